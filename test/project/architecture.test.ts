import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/cli/version.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every import specifier in a file (static, dynamic and re-exports). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push((m[1] ?? m[2])!);
  }
  return found;
}

/** Top-level module of a path under src/ ("cli", "server", "errors.ts", ...). */
function layerOf(absPath: string): string {
  return relative(SRC, absPath).split('/')[0]!.replace(/\.js$/, '.ts');
}

// Which top-level modules each module may import (besides itself). Imports point down only.
const ALLOWED: Record<string, string[]> = {
  'errors.ts': [],
  ref: ['errors.ts', 'oci'],
  oci: ['errors.ts'],
  content: ['errors.ts', 'oci', 'ref'],
  config: ['errors.ts', 'ref', 'transport'],
  transport: ['errors.ts', 'ref', 'oci'],
  registry: ['errors.ts', 'ref', 'oci', 'content', 'transport'],
  copy: ['errors.ts', 'ref', 'oci', 'content'],
  retag: ['errors.ts', 'ref', 'oci', 'content'],
  wiring: ['errors.ts', 'ref', 'oci', 'content', 'registry', 'archive', 'config', 'transport', 'retag'],
  archive: ['errors.ts', 'ref', 'oci', 'content'],
  server: ['errors.ts', 'ref', 'oci'],
  cli: ['*'],
};

// Terminal libraries belong to the CLI layer only.
const CLI_ONLY = ['commander', 'chalk', 'ora', 'cli-table3'];

describe('module layering', () => {
  const all = files(SRC).filter((f) => !f.endsWith('.d.ts'));

  it('finds the source tree', () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it('imports point down only, and terminal libraries stay in src/cli', () => {
    const problems: string[] = [];
    for (const file of all) {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) {
          const to = layerOf(resolve(dirname(file), spec));
          if (to === from || allowed?.includes('*')) continue;
          if (!allowed) problems.push(`${relative(SRC, file)}: module "${from}" has no layering rule`);
          else if (!allowed.includes(to)) problems.push(`${relative(SRC, file)} imports ${spec} (${from} -> ${to})`);
        } else if (from !== 'cli' && CLI_ONLY.some((lib) => spec === lib || spec.startsWith(`${lib}/`))) {
          problems.push(`${relative(SRC, file)} imports ${spec}: terminal libraries are for src/cli only`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('no module calls process.exit outside the CLI', () => {
    const offenders = all.filter((f) => layerOf(f) !== 'cli' && /process\.exit\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(SRC, f))).toEqual([]);
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(resolve(SRC, '../package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
