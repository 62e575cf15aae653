import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { runCli } from '../helpers/cli.js';

// Every command's --help as people read it: piped (80 columns), with $COLUMNS, and on a
// terminal. No line is longer than the width, and prose is wrapped greedily: a line ends only
// where the next word would not have fitted (descriptions had hard line breaks at ~100 columns,
// so every other line was cut short at 80).

async function commandPaths(): Promise<string[][]> {
  const s = { stdout: new PassThrough(), stderr: new PassThrough(), env: process.env };
  const program = await buildProgram(s, () => {});
  const paths: string[][] = [];
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of cmd.commands) {
      paths.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(program, []);
  return paths;
}

/** Lines of the description: after the Usage line, up to the first section heading. */
function descriptionLines(help: string): string[] {
  const lines = help.split('\n');
  const end = lines.findIndex((l, i) => i > 0 && /^(Arguments|Options|Commands):$/.test(l));
  return lines.slice(2, end < 0 ? undefined : end);
}

function expectGreedy(lines: string[], width: number, what: string): void {
  for (let i = 0; i + 1 < lines.length; i++) {
    const [line, next] = [lines[i]!, lines[i + 1]!];
    if (line === '' || next === '' || /^\s/.test(next)) continue;
    const word = next.split(' ')[0]!;
    expect(line.length + 1 + word.length, `${what}: "${line}" could have taken "${word}"`).toBeGreaterThan(width);
  }
}

describe('help layout', () => {
  it('covers the commands that wrapped badly', async () => {
    const names = (await commandPaths()).map((p) => p.join(' '));
    for (const n of ['copy', 'retag', 'delete', 'tag', 'tag rm', 'import', 'export']) expect(names).toContain(n);
  });

  for (const [label, options, width] of [
    ['piped', {}, 80],
    ['piped, COLUMNS=100', { env: { COLUMNS: '100' } }, 100],
    ['on an 80-column terminal', { tty: true, columns: 80 }, 80],
  ] as const) {
    it(`${label}: every line fits ${width} columns and descriptions wrap greedily`, async () => {
      for (const path of await commandPaths()) {
        const r = await runCli([...path, '--help'], options);
        const what = `regctl ${path.join(' ')} --help (${label})`;
        expect(r.code, what).toBe(0);
        for (const l of r.stdout.split('\n')) expect(l.length, `${what}: ${l}`).toBeLessThanOrEqual(width);
        expectGreedy(descriptionLines(r.stdout), width, what);
      }
    });
  }

  it('on a narrow terminal (60 columns) descriptions wrap to it', async () => {
    for (const path of [['copy'], ['retag'], ['delete'], ['tag', 'rm'], ['import'], ['export']]) {
      const r = await runCli([...path, '--help'], { tty: true, columns: 60 });
      const lines = descriptionLines(r.stdout);
      for (const l of lines) expect(l.length).toBeLessThanOrEqual(60);
      expectGreedy(lines, 60, path.join(' '));
    }
  });

  it('tag --help lists rm with a one-line summary', async () => {
    const r = await runCli(['tag', '--help']);
    expect(r.stdout).toMatch(/\n {2}rm <ref> +remove one tag, leaving the manifest and its other tags\n {2}help \[command\]/);
  });

  it('the top-level help fits 80 columns piped and honours COLUMNS', async () => {
    for (const [env, width] of [[{}, 80], [{ COLUMNS: '120' }, 120]] as const) {
      const r = await runCli(['--help'], { env });
      for (const l of r.stdout.split('\n')) expect(l.length, l).toBeLessThanOrEqual(width);
    }
    const wide = await runCli(['--help'], { env: { COLUMNS: '120' } });
    // The longest summary fits one line at 120 columns.
    expect(wide.stdout).toMatch(/\n {2}inspect \[options\] <ref> +show media type, digest, size, platforms or config and layers of an image\n/);
  });
});
