import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

/**
 * The built CLI (dist/bundle) is what gets killed in crash tests: rebuild it when the server or
 * serve command sources are newer (tsc emits even if unrelated files have type errors).
 */
export async function ensureBuilt(): Promise<void> {
  let built = 0;
  try {
    built = (await stat(join(repoRoot, 'dist/bundle/regctl.mjs'))).mtimeMs;
  } catch {
    built = 0;
  }
  const src = Math.max(
    await newestMtime(join(repoRoot, 'src/server')),
    await newestMtime(join(repoRoot, 'src/cli/commands/serve')),
    (await stat(join(repoRoot, 'src/cli/commands/serve.ts'))).mtimeMs,
  );
  if (built >= src) return;
  await promisify(execFile)(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'src')], { cwd: repoRoot }).catch(() => undefined);
  // bin/regctl.js runs the bundle made from tsc's output.
  await promisify(execFile)(process.execPath, [join(repoRoot, 'src/build/bundle.mjs')], { cwd: repoRoot });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  registry: string;
  stdout(): string;
  stderr(): string;
}

/** Spawn `node bin/regctl.js serve --port 0 ...` and wait for its start-up line. */
export async function spawnServe(args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/regctl.js'), 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env } : {}),
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 20_000);
    const check = () => {
      // The whole start-up message (its last line is the push example, or the JSON object).
      const m = /listening on (http:\/\/[^\s]+)[\s\S]*\npush: [^\n]*\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${out}${err}`));
    });
  });
  return { child, url, registry: url.replace('http://', ''), stdout: () => out, stderr: () => err };
}
