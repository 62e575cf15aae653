// Pieces every benchmark script shares. Loopback only.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const MiB = 1024 * 1024;

/** Incompressible, reproducible bytes: AES-CTR keystream of a seed, produced in 1 MiB pieces. */
export function randomStream(seed, size) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(MiB);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(MiB, left);
      left -= n;
      this.push(cipher.update(n === MiB ? zero : zero.subarray(0, n)));
    },
  });
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot take port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A runner that runs a command under /usr/bin/time in `env`, its time file in `work`: wall (ours),
 * user+sys CPU and peak RSS (time's). A non-zero exit throws with the end of stderr.
 */
export function timer({ work, env }) {
  return async function timed(cmd, args) {
    const out = join(work, `time-${randomBytes(4).toString('hex')}.txt`);
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', out, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    const wall = (performance.now() - t0) / 1000;
    const [user, sys, rssKiB] = (await readFile(out, 'utf8')).trim().split('\n').pop().split(' ').map(Number);
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-600)}`);
    return { wall, cpu: user + sys, rssMiB: rssKiB / 1024, stdout, stderr };
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** `--name VALUE` from a bench's arguments, or the default: `const opt = optionOf(args)`. */
export function optionOf(args) {
  return (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
}
