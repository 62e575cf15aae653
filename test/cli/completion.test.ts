import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { regctlOnPath } from '../helpers/built-cli.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * `regctl completion bash` sourced in a real bash, with the built CLI on PATH: the words bash
 * would offer for a line, as COMP_WORDS/COMP_CWORD (or COMP_LINE/COMP_POINT) say it.
 */

let dir: string;
let script: string;
let env: NodeJS.ProcessEnv;
let serve: ServeHandle;
let silent: Server;
let silentHost: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-completion-'));
  const bin = await regctlOnPath(dir);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: dir, REGCTL_CONFIG_DIR: join(dir, 'cfg'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  const r = await runCli(['completion', 'bash']);
  expect(r.code).toBe(0);
  script = join(dir, 'regctl.bash');
  await writeFile(script, r.stdout);
  serve = await startServe({ memory: true });
  const client = new RegistryClient({});
  for (const repo of ['team/app', 'team/api', 'other/x']) await pushImage(client.repository(serve.registry, repo), makeImage(), '1.0');
  await pushImage(client.repository(serve.registry, 'team/app'), makeImage(), '1.1');
  await pushImage(client.repository(serve.registry, 'team/app'), makeImage(), '2.0');
  // A registry that accepts the connection and never answers.
  silent = createServer(() => {});
  await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
  silentHost = `127.0.0.1:${(silent.address() as { port: number }).port}`;
}, 180_000);

afterAll(async () => {
  silent?.closeAllConnections();
  await new Promise((r) => silent?.close(r));
  await serve?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Bash's answer for a line given as words (the last one is being completed). */
async function bashComplete(words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const program = `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _regctl_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await promisify(execFile)('bash', ['--norc', '-c', program], { env, timeout: 20_000 });
  return stdout.split('\n').filter(Boolean);
}

/** The same through COMP_LINE, as readline fills it in (colons and all). */
async function bashLine(line: string): Promise<string[]> {
  const program = `source '${script}'; COMP_LINE='${line}'; COMP_POINT=${line.length}; COMP_WORDS=(); COMP_CWORD=0; _regctl_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await promisify(execFile)('bash', ['--norc', '-c', program], { env, timeout: 20_000 });
  return stdout.split('\n').filter(Boolean);
}

describe('bash completion', () => {
  it('regctl co<TAB>: the commands starting with co', async () => {
    expect(await bashComplete(['regctl', 'co'])).toEqual(['completion', 'config', 'copy']);
  });

  it('regctl copy --pl<TAB>: --platform; then its values', async () => {
    expect(await bashComplete(['regctl', 'copy', '--pl'])).toEqual(['--platform']);
    expect(await bashComplete(['regctl', 'copy', '--platform', 'linux/arm'])).toEqual(['linux/arm64', 'linux/arm/v7', 'linux/arm/v6']);
    expect(await bashComplete(['regctl', 'cp', '--progress', ''])).toEqual(['auto', 'tty', 'plain', 'none']);
  });

  it('sub-commands, global options, nothing for a free argument', async () => {
    expect(await bashComplete(['regctl', 'blob', ''])).toEqual(['get', 'put']);
    expect(await bashComplete(['regctl', 'image', 'd'])).toEqual(['diff']);
    expect(await bashComplete(['regctl', '--json', 'tags', '--s'])).toEqual(['--semver-range', '--sort']);
    expect(await bashComplete(['regctl', 'tags', '--js'])).toEqual(['--json']);
    expect(await bashComplete(['regctl', 'copy', 'app'])).toEqual([]);
  });

  it('repositories and tags from the registry in the word (colons as readline splits them)', async () => {
    // Readline replaces the word after its last colon: bash is offered that part.
    expect(await bashLine(`regctl copy ${serve.registry}/team/a`)).toEqual([`${serve.port}/team/api`, `${serve.port}/team/app`]);
    expect(await bashLine(`regctl copy ${serve.registry}/team/app:1`)).toEqual(['1.0', '1.1']);
    expect(await bashLine(`regctl tags ${serve.registry}/o`)).toEqual([`${serve.port}/other/x`]);
    expect(await bashLine(`regctl tags ${serve.registry}/team/app:`)).toEqual(['1.0', '1.1', '2.0']);
  });

  it('a registry that does not answer: nothing, within the time limit', async () => {
    const t0 = Date.now();
    expect(await bashComplete(['regctl', 'copy', `${silentHost}/te`])).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('an unknown shell is a usage error', async () => {
    expect((await runCli(['completion', 'tcsh'])).code).toBe(2);
  });
});

describe('fish and zsh completion', () => {
  const scriptFor = async (shell: string): Promise<string> => {
    const r = await runCli(['completion', shell]);
    expect(r.code).toBe(0);
    const file = join(dir, `regctl.${shell}`);
    await writeFile(file, r.stdout);
    return file;
  };

  it.skipIf(!existsSync('/usr/bin/fish'))('fish: complete -C', async () => {
    const file = await scriptFor('fish');
    const run = async (line: string) =>
      (await promisify(execFile)('fish', ['--no-config', '-c', `source '${file}'; complete -C '${line}'`], { env, timeout: 20_000 })).stdout.split('\n').filter(Boolean);
    expect(await run('regctl co')).toEqual(['completion', 'config', 'copy']);
    expect(await run('regctl copy --pl')).toEqual(['--platform']);
  });

  it.skipIf(!existsSync('/usr/bin/zsh'))('zsh: the function hands the replies to compadd (stubbed), files when there are none', async () => {
    const file = await scriptFor('zsh');
    const run = async (words: string[]) => {
      const program = `compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }; _files() { print '<files>'; }; source '${file}'; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _regctl`;
      return (await promisify(execFile)('zsh', ['-f', '-c', program], { env, timeout: 20_000 })).stdout.split('\n').filter(Boolean);
    };
    expect(await run(['regctl', 'co'])).toEqual(['completion', 'config', 'copy']);
    expect(await run(['regctl', 'copy', '--pl'])).toEqual(['--platform']);
    expect(await run(['regctl', 'copy', 'x'])).toEqual(['<files>']);
  });
});
