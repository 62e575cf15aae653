import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

/**
 * Debian's docker-registry (the official distribution registry, v2.8) on 127.0.0.1 with an
 * ephemeral port, a temporary root and a generated config. A missing binary fails the test that
 * starts it, naming the package (CI installs it).
 */
export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';

export interface Distribution {
  /** `127.0.0.1:PORT`, usable as the registry part of a reference. */
  registry: string;
  url: string;
  root: string;
  close(): Promise<void>;
}

export interface DistributionOptions {
  /** Basic auth via htpasswd with these users. */
  users?: Record<string, string>;
  /** Allow DELETE (default true). */
  deleteEnabled?: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startDistribution(options: DistributionOptions = {}): Promise<Distribution> {
  if (!existsSync(DISTRIBUTION_BIN)) throw new Error(`${DISTRIBUTION_BIN} is not installed; the tests need it: apt-get install -y docker-registry`);
  const root = await mkdtemp(join(tmpdir(), 'regctl-distribution-'));
  let auth = '';
  if (options.users) {
    const lines = Object.entries(options.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`);
    await writeFile(join(root, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth:\n  htpasswd:\n    realm: regctl-test\n    path: ${join(root, 'htpasswd')}\n`;
  }
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'data')}`,
      '  delete:',
      `    enabled: ${options.deleteEnabled !== false}`,
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString('hex')}`,
      auth,
    ].join('\n');
    const configPath = join(root, 'config.yml');
    await writeFile(configPath, config);
    const child = spawn(DISTRIBUTION_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const url = `http://127.0.0.1:${port}`;
    if (await waitReady(url, child)) {
      return {
        registry: `127.0.0.1:${port}`,
        url,
        root,
        async close() {
          await stop(child);
          await rm(root, { recursive: true, force: true });
        },
      };
    }
    await stop(child);
    if (tries >= 2) {
      await rm(root, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${stderr.slice(-500)}`);
    }
  }
}

async function waitReady(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

/**
 * Tag `digest` (already pushed to `repository` through the API) under many more tags by writing
 * docker-registry's storage layout directly: thousands of tags in milliseconds instead of seconds.
 */
export async function seedTags(d: Distribution, repository: string, digest: string, tags: string[]): Promise<void> {
  const { mkdir, writeFile: write } = await import('node:fs/promises');
  const [alg, hex] = digest.split(':') as [string, string];
  const base = join(d.root, 'data', 'docker', 'registry', 'v2', 'repositories', repository, '_manifests', 'tags');
  // 32 tags in flight: thousands of tags one by one take minutes on a loaded machine.
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < tags.length) {
      const tag = tags[next++]!;
      await mkdir(join(base, tag, 'current'), { recursive: true });
      await mkdir(join(base, tag, 'index', alg, hex), { recursive: true });
      await write(join(base, tag, 'current', 'link'), digest);
      await write(join(base, tag, 'index', alg, hex, 'link'), digest);
    }
  }));
}

/** Copy a pushed repository's storage to more names (for catalog tests with hundreds of repositories). */
export async function seedRepositories(d: Distribution, from: string, names: string[]): Promise<void> {
  const { copyFile, mkdir, readdir } = await import('node:fs/promises');
  const base = join(d.root, 'data', 'docker', 'registry', 'v2', 'repositories');
  // The tree is a few link files; a plain walk is much faster than fs.cp here.
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(base, from, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else files.push(r);
    }
  };
  await walk('');
  for (const name of names) {
    for (const f of files) {
      await mkdir(join(base, name, f, '..'), { recursive: true });
      await copyFile(join(base, from, f), join(base, name, f));
    }
  }
}
