import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Is a command on PATH (tests that need a Debian tool skip without it). */
export async function which(cmd: string): Promise<boolean> {
  try {
    await promisify(execFile)('which', [cmd]);
    return true;
  } catch {
    return false;
  }
}
