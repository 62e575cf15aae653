import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt, ROOT as repoRoot } from '../helpers/built-cli.js';

/**
 * The built CLI (dist/bundle) is what gets killed in crash tests: rebuilt when any source is newer
 * (one helper for every test that spawns `bin/regctl.js`).
 */
export { ensureBuilt };

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
