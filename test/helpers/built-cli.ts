import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The checkout, and the CLI as `npm link` runs it. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/regctl.js');

async function newest(dir: string): Promise<number> {
  let t = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, await newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, (await stat(p)).mtimeMs);
  }
  return t;
}

let building: Promise<void> | undefined;

/** Build dist/ and its bundle when a source is newer (once per test process). */
export function ensureBuilt(): Promise<void> {
  building ??= (async () => {
    const built = await stat(join(ROOT, 'dist/bundle/regctl.mjs')).then((s) => s.mtimeMs, () => 0);
    if (built >= (await newest(join(ROOT, 'src')))) return;
    await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'src')], { cwd: ROOT }).catch(() => undefined);
    await promisify(execFile)(process.execPath, [join(ROOT, 'src/build/bundle.mjs')], { cwd: ROOT });
  })();
  return building;
}

/** A folder holding an executable `regctl` that runs the built CLI: put it first on PATH. */
export async function regctlOnPath(dir: string): Promise<string> {
  await ensureBuilt();
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'regctl'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  await chmod(join(bin, 'regctl'), 0o755);
  return bin;
}
