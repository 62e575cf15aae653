import { PassThrough } from 'node:stream';
import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { renderHelp } from '../../src/cli/help.js';
import { buildProgram } from '../../src/cli/main.js';
import { COMMANDS, EXAMPLES } from '../../src/cli/command-table.js';
import { createContext } from '../../src/cli/context.js';
import { runCli } from '../helpers/cli.js';

/**
 * The command table (what `regctl --help` lists without loading any command module) must match
 * the real command definitions, and the commander-free help must be commander's text exactly.
 */

function streams(columns?: number) {
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  if (columns !== undefined) {
    stdout.isTTY = true;
    stdout.columns = columns;
  }
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  stderr.resume();
  return { s: { stdout, stderr, env: { ...process.env, NO_COLOR: '1' } }, text: () => Buffer.concat(chunks).toString() };
}

describe('the command table', () => {
  it('names, aliases, usage terms and summaries match what each module registers, in --help order', async () => {
    const loaded = new Map<unknown, Command>();
    const help = new Help();
    const { s } = streams();
    for (const entry of COMMANDS) {
      let program = loaded.get(entry.load);
      if (!program) {
        program = new Command('regctl');
        (await entry.load()).register(program, createContext(s, () => {}));
        loaded.set(entry.load, program);
      }
      const cmd = program.commands.find((c) => c.name() === entry.name);
      expect(cmd, entry.name).toBeDefined();
      expect(help.subcommandTerm(cmd!), entry.name).toBe(entry.term);
      expect(cmd!.summary(), entry.name).toBe(entry.summary);
      expect(cmd!.aliases()[0], entry.name).toBe(entry.alias);
    }
    // Every command any module defines is in the table.
    const defined = [...loaded.values()].flatMap((p) => p.commands.map((c) => c.name()));
    expect(new Set(defined)).toEqual(new Set(COMMANDS.map((c) => c.name)));
    const full = await buildProgram(s, () => {});
    expect(full.commands.map((c) => c.name())).toEqual(COMMANDS.map((c) => c.name));
  });

  it('a run loads only its own command module; the others are stubs with the listed terms', async () => {
    const { s } = streams();
    const program = await buildProgram(s, () => {}, ['--json', 'tags', 'localhost:5000/x']);
    const tags = program.commands.find((c) => c.name() === 'tags')!;
    const copy = program.commands.find((c) => c.name() === 'copy')!;
    expect(tags.options.map((o) => o.long)).toContain('--sort');
    expect(copy.options).toHaveLength(0);
  });
});

describe('regctl --help without commander', () => {
  for (const columns of [undefined, 120, 100, 72, 60, 45, 30]) {
    it(`is commander's help text exactly (${columns ?? 'not a terminal'} columns)`, async () => {
      const { s, text } = streams(columns);
      const program = await buildProgram(s, () => {});
      program.outputHelp();
      expect(renderHelp(columns ?? 80)).toBe(text());
      expect(text().endsWith(`${EXAMPLES}\n`)).toBe(true);
    });
  }

  it('--help, -h and help print it; every command is listed; the version probe needs no command', async () => {
    const viaCommander = await runCli(['--json', '--help']);
    expect(viaCommander.code).toBe(0);
    for (const args of [['--help'], ['-h'], ['help']]) expect(await runCli(args)).toEqual({ code: 0, stdout: viaCommander.stdout, stderr: '' });
    for (const c of COMMANDS) expect(viaCommander.stdout).toContain(`\n  ${c.term}  `);
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    expect(await runCli(['-V'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('COMMAND --help shows the real definition with examples', async () => {
    for (const c of COMMANDS) {
      const r = await runCli([c.name, '--help']);
      expect(r.code, c.name).toBe(0);
      expect(r.stdout.startsWith(`Usage: regctl ${c.name}`), c.name).toBe(true);
      if (c.name !== 'tag') expect(r.stdout, c.name).toContain('\nExamples:\n');
    }
    expect((await runCli(['help', 'copy'])).stdout).toBe((await runCli(['copy', '--help'])).stdout);
    expect((await runCli(['cp', '--help'])).stdout).toContain('--no-compress');
  });

  it('an unknown command is a usage error with a suggestion', async () => {
    expect(await runCli(['copi'])).toEqual({ code: 2, stdout: '', stderr: "error: unknown command 'copi'\n(Did you mean copy?)\n(run with --help for usage)\n" });
  });
});
