import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidContentError } from '../errors.js';
import type { TarIndex } from './tar-index.js';

/**
 * Read access to the files of an image layout, whether they sit in a directory or inside a
 * tar: the layout reader does not care. Paths are relative and already validated.
 */
export interface LayoutFiles {
  readonly label: string;
  /** Whole small file, or undefined when missing. */
  read(rel: string, max?: number): Promise<Buffer | undefined>;
  /** A stream of the file, or undefined when missing. */
  open(rel: string): Promise<Readable | undefined>;
  size(rel: string): Promise<number | undefined>;
}

export class DirFiles implements LayoutFiles {
  constructor(
    readonly dir: string,
    readonly label: string = dir,
  ) {}

  async read(rel: string, max = 4 << 20): Promise<Buffer | undefined> {
    const size = await this.size(rel);
    if (size === undefined) return undefined;
    if (size > max) throw new InvalidContentError(`${this.label}: ${rel} is too large (${size} bytes)`, 'LAYOUT_INVALID');
    const fh = await open(join(this.dir, rel), 'r');
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async open(rel: string): Promise<Readable | undefined> {
    try {
      const fh = await open(join(this.dir, rel), 'r');
      return fh.createReadStream();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async size(rel: string): Promise<number | undefined> {
    try {
      const s = await stat(join(this.dir, rel));
      return s.isFile() ? s.size : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }
}

export class TarFiles implements LayoutFiles {
  constructor(readonly tar: TarIndex) {}

  get label(): string {
    return this.tar.label;
  }

  async read(rel: string, max?: number): Promise<Buffer | undefined> {
    return this.tar.get(rel) ? this.tar.read(rel, max) : undefined;
  }

  async open(rel: string): Promise<Readable | undefined> {
    return this.tar.get(rel) ? this.tar.open(rel) : undefined;
  }

  async size(rel: string): Promise<number | undefined> {
    return this.tar.get(rel)?.size;
  }
}
