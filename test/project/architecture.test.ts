import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/cli/version.js';
import { buildGraph, check, cycles, SRC, upwardImports } from './import-graph.js';

const pkg = JSON.parse(readFileSync(resolve(SRC, '../package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const DEPENDENCIES = new Set(Object.keys(pkg.dependencies));

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    // Declaration files hold no code; .js files count too (src/build/ is skipped as tooling).
    if (entry.isFile() && /\.[cm]?[tj]s$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.set(path, readFileSync(path, 'utf8'));
  }
  return files;
}

const REAL = sourceFiles();

/** Problems reported for one synthetic file placed at src/<path> beside the real tree. */
function problemsOf(path: string, text: string): string[] {
  const files = new Map(REAL);
  files.set(join(SRC, path), text);
  return check(buildGraph(files), DEPENDENCIES).filter((p) => p.startsWith(`${path}:`) || (p.startsWith('cycle:') && p.includes(path)));
}

describe('import graph of src/ (TypeScript parser and resolver)', () => {
  const graph = buildGraph(REAL);

  it('reads the real tree and resolves every relative import to a file', () => {
    expect(graph.size).toBeGreaterThan(100);
    const edges = [...graph.values()].flatMap((s) => s.edges);
    expect(edges.filter((e) => !e.external).length).toBeGreaterThan(300);
    const missing = edges.filter((e) => !e.external && !graph.has(e.to) && !e.to.startsWith('..'));
    expect(missing.map((e) => `${e.from}:${e.line} ${e.specifier}`)).toEqual([]);
  });

  it('keeps every rule: one-way layers, no cycles, package owners, no computed imports, process.exit in cli only', () => {
    expect(check(graph, DEPENDENCIES)).toEqual([]);
  });

  it('has no upward or sideways import between folders or parts of server/', () => {
    expect(upwardImports(graph).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });
});

describe('the check cannot be fooled (synthetic files)', () => {
  it('a clean file passes (the cases below fail for their loophole alone)', () => {
    expect(problemsOf('copy/probe.ts', "import { digestOf } from '../oci/digest.js';\nexport const d = digestOf;\n")).toEqual([]);
  });

  it('flags a side-effect import going up', () => {
    expect(problemsOf('ref/probe.ts', "import '../cli/output.js';\n")).toEqual(['ref/probe.ts:1 layer: upward: ref -> cli (../cli/output.js)']);
  });

  it('flags a type-only import and an import type going up', () => {
    expect(problemsOf('transport/probe.ts', "import type { RegistryClient } from '../registry/client.js';\nexport type S = typeof import('../copy/types.js');\n")).toEqual([
      'transport/probe.ts:1 layer: upward: transport -> registry (../registry/client.js)',
      'transport/probe.ts:2 layer: upward: transport -> copy (../copy/types.js)',
    ]);
  });

  it("flags createRequire(...)('chalk') outside src/cli, aliased or bound to a name", () => {
    const direct = "import { createRequire } from 'node:module';\nexport const c = createRequire(import.meta.url)('chalk');\n";
    expect(problemsOf('copy/probe.ts', direct)).toEqual(['copy/probe.ts:2 package: chalk belongs to cli/']);
    const bound = "import { createRequire as cr } from 'node:module';\nconst req = cr(import.meta.url);\nexport const u = req('undici');\n";
    expect(problemsOf('registry/probe.ts', bound)).toEqual(['registry/probe.ts:3 package: undici belongs to transport/']);
    expect(problemsOf('cli/probe.ts', direct)).toEqual([]);
    expect(problemsOf('oci/probe.js', "export const p = import.meta.resolve('undici');\n")).toEqual(['oci/probe.js:1 package: undici belongs to transport/']);
  });

  it('flags import(variable) in a layer that may not', () => {
    const text = "const name = 'undici';\nexport const load = () => import(name);\n";
    expect(problemsOf('copy/probe.ts', text)).toEqual(['copy/probe.ts:2 computed-import: module name is not a string literal']);
    expect(problemsOf('copy/probe.ts', 'export const load = (n: string) => import(`${n}`);\n')).toEqual([
      'copy/probe.ts:1 computed-import: module name is not a string literal',
    ]);
  });

  it('flags process.exit (1), with a space, a line break, brackets or destructuring', () => {
    expect(problemsOf('copy/probe.ts', 'export function stop(): void { process.exit (1); }\n')).toEqual(['copy/probe.ts:1 exit: process.exit belongs to src/cli']);
    expect(problemsOf('copy/probe.ts', "process\n  .exit(1);\nprocess['exit'](2);\nconst { exit } = process;\nexit(3);\n").length).toBe(3);
    expect(problemsOf('copy/probe.ts', "import { exit } from 'node:process';\nexit(1);\n")).toEqual(['copy/probe.ts:1 exit: process.exit belongs to src/cli']);
    expect(problemsOf('cli/probe.ts', 'process.exit (1);\n')).toEqual([]);
  });

  it('flags package owners, node:fs in pure layers, undeclared packages and the server using the client', () => {
    expect(problemsOf('oci/probe.ts', "import { readFileSync } from 'fs';\nexport const r = readFileSync;\n")).toEqual([
      'oci/probe.ts:1 package: node:fs is not for ref/, oci/, content/',
    ]);
    expect(problemsOf('content/probe.ts', "export * from 'node:fs/promises';\n")).toEqual(['content/probe.ts:1 package: node:fs/promises is not for ref/, oci/, content/']);
    expect(problemsOf('server/probe.ts', "import '@aws-sdk/client-s3';\n")).toEqual(['server/probe.ts:1 package: @aws-sdk/client-s3 belongs to server/storage/s3/']);
    expect(problemsOf('copy/probe.ts', "import 'vitest';\n")).toEqual(['copy/probe.ts:1 package: vitest is not a dependency in package.json']);
    expect(problemsOf('server/probe.ts', "import '../transport/http.js';\n")).toEqual([
      'server/probe.ts:1 layer: server/ may import only policy, ref, oci, errors.ts (../transport/http.js)',
    ]);
    expect(problemsOf('wiring/probe.ts', "import '../server/index.js';\n")).toEqual(['wiring/probe.ts:1 layer: only cli may import server/ (../server/index.js)']);
    expect(problemsOf('registry/probe.ts', "import '../archive/layout.js';\n")).toEqual([
      'registry/probe.ts:1 layer: sideways: registry -> archive (same row) (../archive/layout.js)',
    ]);
    expect(problemsOf('retag/probe.ts', "import '../registry/client.js';\n")).toEqual([
      'retag/probe.ts:1 layer: retag/ may import only content, policy, ref, oci, errors.ts (../registry/client.js)',
    ]);
    expect(problemsOf('content/probe.ts', "import '../transport/http.js';\n")).toEqual(['content/probe.ts:1 layer: sideways: content -> transport (same row) (../transport/http.js)']);
    expect(problemsOf('transport/probe.ts', "import '../config/store.js';\n")).toEqual(['transport/probe.ts:1 layer: only cli, wiring may import config/ (../config/store.js)']);
  });

  it('keeps the one-way order inside src/server/ (SERVER_LAYERS)', () => {
    // Allowed: top -> anything below, handlers -> http -> ops -> storage -> protocol.
    expect(problemsOf('server/probe.ts', "import './http/guard.js';\nimport './protocol/errors.js';\n")).toEqual([]);
    expect(problemsOf('server/handlers/probe.ts', "import '../http/http-io.js';\nimport '../storage/types.js';\n")).toEqual([]);
    expect(problemsOf('server/storage/s3/probe.ts', "import '../../protocol/errors.js';\nimport '../types.js';\n")).toEqual([]);
    // Upward, sideways, up to the top, and a sub-folder with no row.
    expect(problemsOf('server/storage/probe.ts', "import type { RequestContext } from '../handlers/context.js';\n")).toEqual([
      'server/storage/probe.ts:1 layer: upward in server/: storage -> handlers (../handlers/context.js)',
    ]);
    expect(problemsOf('server/storage/s3/probe.ts', "import '../../http/http-io.js';\n")).toEqual([
      'server/storage/s3/probe.ts:1 layer: upward in server/: storage -> http (../../http/http-io.js)',
    ]);
    expect(problemsOf('server/protocol/probe.ts', "export type { RegistryStorage } from '../storage/types.js';\n")).toEqual([
      'server/protocol/probe.ts:1 layer: upward in server/: protocol -> storage (../storage/types.js)',
    ]);
    expect(problemsOf('server/security/probe.ts', "import '../content/syntax.js';\n")).toEqual([
      'server/security/probe.ts:1 layer: sideways in server/: security -> content (same row) (../content/syntax.js)',
    ]);
    expect(problemsOf('server/ops/probe.ts', "import '../runtime.js';\n")).toEqual(['server/ops/probe.ts:1 layer: upward in server/: ops -> top (../runtime.js)']);
    expect(problemsOf('server/attic/probe.ts', "import '../protocol/errors.js';\n")).toEqual([
      'server/attic/probe.ts:1 layer: server part "attic" has no row in SERVER_LAYERS (../protocol/errors.js)',
    ]);
  });

  it('flags an import circle, even inside one folder', () => {
    const files = new Map(REAL);
    files.set(join(SRC, 'oci/probe-a.ts'), "import './probe-b.js';\n");
    files.set(join(SRC, 'oci/probe-b.ts'), "export * from './probe-a.js';\n");
    expect(cycles(buildGraph(files))).toContainEqual(['oci/probe-a.ts', 'oci/probe-b.ts']);
  });
});

describe('version', () => {
  it('matches package.json', () => {
    expect(VERSION).toBe(pkg.version);
  });
});
