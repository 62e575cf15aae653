// The import graph of src/, read with the TypeScript parser and resolver (not a regex), and the
// layering rules it must keep. test/project/architecture.test.ts runs it on the real tree and on
// small synthetic files that try the known ways around a text search.
import { builtinModules } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * One-way order between the folders of src/, top first. A file may import its own folder and any
 * folder of a LOWER row; never a row above, never a sibling in its own row.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli'], // commander wiring, output, exit codes
  ['wiring'], // composition root: location strings + user settings -> backends, clients
  ['sync'], // a feature over features: plans pairs, runs them on copy, retags with retag
  ['copy', 'retag', 'raw', 'search', 'server'], // features (server stands apart: see ONLY_IMPORTS)
  ['registry', 'archive', 'config'], // backends; config implements transport's providers
  // The seam (ImageSource / ImageTarget, location syntax, platform choice): features drive it,
  // backends implement it, so both import it and it imports neither. transport: undici, auth,
  // retries, and the credential/settings interfaces it consumes. Neither knows the other.
  ['content', 'transport'],
  // Pure rules over tag names and image facts (semver lines, floating tags, retention): decided
  // here once for the client features and the registry server alike. No I/O.
  ['policy'],
  ['ref'], // pure data, no I/O
  ['oci'],
  ['errors.ts'],
];

/**
 * One-way order between the parts of src/server/, top first, read like LAYERS: a file may import
 * its own part and any part of a lower row. "top" is the files directly in server/ (index.ts, the
 * public entry; server.ts, createRegistryServer and dispatch; runtime.ts, the composition root).
 * A new sub-folder of server/ needs a row here before it may import or be imported.
 */
export const SERVER_LAYERS: readonly (readonly string[])[] = [
  ['top'],
  // Served beside the registry API (the web UI, the pull-through mirror): they use the handlers
  // and everything below, and only the top uses them.
  ['ui', 'mirror'],
  ['handlers'], // one file per OCI endpoint group, plus the per-request context
  ['http'], // front door: guard (authorisation, limits, health, metrics), access logs, body/response helpers
  ['ops'], // gc, limits, metrics, settings, health, the response byte meter
  ['security', 'content'], // who may do what; what a manifest/name/digest must look like
  ['storage'], // the storage interface, its backends, verified uploads
  ['protocol'], // OCI error bodies, the router, the request-target parser
];

/** Folders that may import only these (besides themselves), whatever their row allows. */
export const ONLY_IMPORTS: Record<string, readonly string[]> = {
  // Features are plain functions over the seam: which backend they drive is the wiring's choice.
  copy: ['content', 'ref', 'oci', 'errors.ts'],
  retag: ['content', 'policy', 'ref', 'oci', 'errors.ts'],
  sync: ['copy', 'retag', 'content', 'policy', 'ref', 'oci', 'errors.ts'],
  raw: ['content', 'ref', 'oci', 'errors.ts'],
  // The registry server never uses the client: it shares pure data and errors only.
  server: ['policy', 'ref', 'oci', 'errors.ts'],
};

/** Folders that only these may import (the user's config files are composition work). */
export const ONLY_IMPORTED_BY: Record<string, readonly string[]> = {
  config: ['cli', 'wiring'],
  server: ['cli'],
};

/** Packages and the only folders (path prefixes under src/) that may import them. */
export const PACKAGE_OWNERS: readonly { pattern: RegExp; owners: readonly string[] }[] = [
  { pattern: /^undici(\/|$)/, owners: ['transport/'] },
  { pattern: /^@aws-sdk\//, owners: ['server/storage/s3/'] },
  { pattern: /^(commander|chalk|ora|cli-table3)(\/|$)/, owners: ['cli/'] },
];

/** Node modules a folder may not import: the seam and pure data do no file I/O. */
export const FORBIDDEN_BUILTINS: readonly { pattern: RegExp; folders: readonly string[] }[] = [
  { pattern: /^node:fs(\/|$)/, folders: ['ref/', 'oci/', 'content/'] },
  // Retention and semver rules decide; they never reach a disk or a network.
  { pattern: /^node:(fs|net|http|https|child_process)(\/|$)/, folders: ['policy/'] },
];

/** Only here may a file end the process (bin/regctl.js is outside src/ and may too). */
export const EXIT_ALLOWED = ['cli/'];

/**
 * Files that may import a module named at run time (import(x), require(x)): the check cannot see
 * what they load. Matched on the path under src/ (a regex so a move inside server/ keeps it).
 */
export const COMPUTED_IMPORT_ALLOWED: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /^server\/(.+\/)?bcrypt-pool\.ts$/, why: 'the hashing worker loads bcryptjs by the URL its parent resolved (or evaluates its source in the single executable)' },
];

/**
 * Circles wholly inside these folders are not reported. None now: the two inside server/ (each
 * storage backend and its gc store) were broken by declaring what the gc store needs beside it.
 */
export const CYCLES_NOT_CHECKED: string[] = [];

/** Tooling that is not part of the program (the esbuild script). */
const NOT_PROGRAM = /^build\//;

export interface Edge {
  /** Importing file, relative to src/ with forward slashes. */
  from: string;
  line: number;
  specifier: string;
  /** Resolved file relative to src/ ("../x" when outside), or the package / node:builtin name. */
  to: string;
  external: boolean;
}

export interface FileScan {
  edges: Edge[];
  /** Lines of import()/require() whose module is not a string literal. */
  computed: number[];
  /** Lines that reach process.exit in any spelling. */
  exits: number[];
}

const BUILTINS = new Set(builtinModules);
const COMPILER: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };

const posix = (p: string): string => p.split(sep).join('/');

/** "node:fs/promises" for "fs/promises" and "node:fs/promises"; "@scope/pkg" / "pkg" for packages. */
export function externalName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  if (BUILTINS.has(specifier)) return `node:${specifier}`;
  return specifier;
}

function literalText(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

function strip(node: ts.Expression): ts.Expression {
  let n = node;
  while (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isNonNullExpression(n) || ts.isSatisfiesExpression(n)) n = n.expression;
  return n;
}

type Scan = Omit<FileScan, 'edges'> & { uses: { specifier: string; line: number }[] };
const parsed = new Map<string, { text: string; scan: Scan }>();

/** scanFile, remembered per path and text (the synthetic cases re-read the whole tree). */
function scanCached(path: string, text: string): Scan {
  const hit = parsed.get(path);
  if (hit?.text === text) return hit.scan;
  const scan = scanFile(path, text);
  parsed.set(path, { text, scan });
  return scan;
}

/** Every module use, computed import and process.exit in one file, from its syntax tree. */
export function scanFile(path: string, text: string): Scan {
  const kind = /\.[cm]?js$/.test(path) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  const uses: { specifier: string; line: number }[] = [];
  const computed: number[] = [];
  const exits: number[] = [];
  const lineOf = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  // Names under which this file holds `createRequire`, a require function, or the process object.
  const createRequireNames = new Set<string>();
  const requireNames = new Set<string>(['require']);
  const processNames = new Set<string>(['process']);

  const use = (spec: ts.Node | undefined, at: ts.Node): void => {
    const s = literalText(spec);
    if (s === undefined) computed.push(lineOf(at));
    else uses.push({ specifier: s, line: lineOf(at) });
  };
  const isCreateRequire = (e: ts.Expression): boolean => {
    const x = strip(e);
    return (ts.isIdentifier(x) && createRequireNames.has(x.text)) || (ts.isPropertyAccessExpression(x) && x.name.text === 'createRequire');
  };
  /** `require`, a name bound to createRequire(...), or createRequire(...) itself. */
  const isRequireFn = (e: ts.Expression): boolean => {
    const x = strip(e);
    if (ts.isIdentifier(x)) return requireNames.has(x.text);
    return ts.isCallExpression(x) && isCreateRequire(x.expression);
  };
  const isProcess = (e: ts.Expression): boolean => {
    const x = strip(e);
    if (ts.isIdentifier(x)) return processNames.has(x.text);
    return ts.isPropertyAccessExpression(x) && x.name.text === 'process' && ts.isIdentifier(x.expression) && x.expression.text === 'globalThis';
  };

  // First pass: bindings (imports of node:module / node:process, `const r = createRequire(...)`).
  const bind = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && node.importClause) {
      const mod = literalText(node.moduleSpecifier);
      const clause = node.importClause;
      const named = clause.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : [];
      const whole = [clause.name?.text, clause.namedBindings && ts.isNamespaceImport(clause.namedBindings) ? clause.namedBindings.name.text : undefined];
      if (mod === 'module' || mod === 'node:module') {
        for (const el of named) if ((el.propertyName ?? el.name).text === 'createRequire') createRequireNames.add(el.name.text);
      }
      if (mod === 'process' || mod === 'node:process') {
        for (const name of whole) if (name) processNames.add(name);
        for (const el of named) if ((el.propertyName ?? el.name).text === 'exit') exits.push(lineOf(el));
      }
    }
    if (ts.isVariableDeclaration(node) && node.initializer && ts.isIdentifier(node.name)) {
      const init = strip(node.initializer);
      if (ts.isCallExpression(init) && isCreateRequire(init.expression)) requireNames.add(node.name.text);
      if (isProcess(init)) processNames.add(node.name.text);
    }
    ts.forEachChild(node, bind);
  };
  bind(sf);

  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) use(node.moduleSpecifier, node);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) use(node.moduleReference.expression, node);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) use(node.argument.literal, node);
    else if (ts.isCallExpression(node)) {
      const callee = strip(node.expression);
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword || isRequireFn(callee)) use(node.arguments[0], node);
      // require.resolve('pkg'), createRequire(...).resolve('pkg'), import.meta.resolve('pkg'):
      // the file depends on the package it locates too.
      else if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve' && (isRequireFn(callee.expression) || ts.isMetaProperty(strip(callee.expression)))) {
        use(node.arguments[0], node);
      }
    } else if (ts.isPropertyAccessExpression(node) && node.name.text === 'exit' && isProcess(node.expression)) exits.push(lineOf(node));
    else if (ts.isElementAccessExpression(node) && isProcess(node.expression)) {
      const key = literalText(node.argumentExpression);
      if (key === undefined || key === 'exit') exits.push(lineOf(node));
    } else if (ts.isVariableDeclaration(node) && node.initializer && ts.isObjectBindingPattern(node.name) && isProcess(node.initializer)) {
      for (const el of node.name.elements) {
        const key = el.propertyName ?? el.name;
        if (!ts.isIdentifier(key) || key.text === 'exit') exits.push(lineOf(el));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { uses, computed, exits };
}

/**
 * Scan and resolve a set of files (absolute path -> text). Relative specifiers go through the
 * TypeScript resolver (NodeNext: `./x.js` is `./x.ts`), which sees the given files as existing,
 * so a synthetic file can sit beside the real ones.
 */
export function buildGraph(files: ReadonlyMap<string, string>): Map<string, FileScan> {
  const host: ts.ModuleResolutionHost = {
    fileExists: (p) => files.has(p) || ts.sys.fileExists(p),
    readFile: (p) => files.get(p) ?? ts.sys.readFile(p),
    directoryExists: (p) => ts.sys.directoryExists?.(p) ?? true,
    realpath: ts.sys.realpath,
  };
  const graph = new Map<string, FileScan>();
  for (const [abs, text] of files) {
    const from = posix(relative(SRC, abs));
    if (NOT_PROGRAM.test(from)) continue;
    const { uses, computed, exits } = scanCached(abs, text);
    const edges = uses.map(({ specifier, line }): Edge => {
      if (!specifier.startsWith('.')) return { from, line, specifier, to: externalName(specifier), external: true };
      const hit = ts.resolveModuleName(specifier, abs, COMPILER, host, undefined, undefined, ts.ModuleKind.ESNext).resolvedModule;
      const target = hit ? hit.resolvedFileName : resolve(dirname(abs), specifier);
      return { from, line, specifier, to: posix(relative(SRC, target)), external: false };
    });
    graph.set(from, { edges, computed, exits });
  }
  return graph;
}

/** Folder of a path under src/ ("cli", "server", "errors.ts"). */
export function folderOf(path: string): string {
  return path.split('/')[0]!;
}

function rowOf(folder: string): number {
  return LAYERS.findIndex((row) => row.includes(folder));
}

/** Part of src/server/ a path belongs to ("top" for files directly in it), or undefined outside server/. */
export function serverPartOf(path: string): string | undefined {
  if (!path.startsWith('server/')) return undefined;
  const rest = path.slice('server/'.length).split('/');
  return rest.length === 1 ? 'top' : rest[0]!;
}

function serverRowOf(part: string): number {
  return SERVER_LAYERS.findIndex((row) => row.includes(part));
}

/** Why one file of src/server/ may not import another of it, or undefined when it may. */
function serverViolation(from: string, to: string): string | undefined {
  const a = serverPartOf(from);
  const b = serverPartOf(to);
  if (a === undefined || b === undefined || a === b) return undefined;
  const ra = serverRowOf(a);
  const rb = serverRowOf(b);
  if (ra < 0) return `server part "${a}" has no row in SERVER_LAYERS`;
  if (rb < 0) return `server part "${b}" has no row in SERVER_LAYERS`;
  if (rb < ra) return `upward in server/: ${a} -> ${b}`;
  if (rb === ra) return `sideways in server/: ${a} -> ${b} (same row)`;
  return undefined;
}

/** Why `from` may not import `to` (both paths under src/), or undefined when it may. */
export function layerViolation(from: string, to: string): string | undefined {
  const a = folderOf(from);
  const b = folderOf(to);
  if (a === b) return serverViolation(from, to);
  if (b === '..') return `${to} is outside src/`;
  const ra = rowOf(a);
  const rb = rowOf(b);
  if (ra < 0) return `folder "${a}" has no row in LAYERS`;
  if (rb < 0) return `folder "${b}" has no row in LAYERS`;
  if (ONLY_IMPORTS[a] && !ONLY_IMPORTS[a]!.includes(b)) return `${a}/ may import only ${ONLY_IMPORTS[a]!.join(', ')}`;
  if (ONLY_IMPORTED_BY[b] && !ONLY_IMPORTED_BY[b]!.includes(a)) return `only ${ONLY_IMPORTED_BY[b]!.join(', ')} may import ${b}/`;
  if (rb < ra) return `upward: ${a} -> ${b}`;
  if (rb === ra) return `sideways: ${a} -> ${b} (same row)`;
  return undefined;
}

function packageViolation(from: string, name: string): string | undefined {
  for (const { pattern, owners } of PACKAGE_OWNERS) {
    if (pattern.test(name) && !owners.some((o) => from.startsWith(o))) return `${name} belongs to ${owners.join(', ')}`;
  }
  for (const { pattern, folders } of FORBIDDEN_BUILTINS) {
    if (pattern.test(name) && folders.some((f) => from.startsWith(f))) return `${name} is not for ${folders.join(', ')}`;
  }
  return undefined;
}

/** Strongly connected groups of more than one file (Tarjan), each sorted. */
export function cycles(graph: ReadonlyMap<string, FileScan>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const next_of = (f: string): string[] => (graph.get(f)?.edges ?? []).filter((e) => !e.external && graph.has(e.to)).map((e) => e.to);
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of next_of(v)) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || next_of(v).includes(v)) found.push(group.sort());
    }
  };
  for (const f of [...graph.keys()].sort()) if (!index.has(f)) strong(f);
  return found;
}

/** Every broken rule, one line each ("file:line rule: detail"). */
export function check(graph: ReadonlyMap<string, FileScan>, dependencies: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [file, scan] of graph) {
    for (const e of scan.edges) {
      const at = `${file}:${e.line}`;
      if (e.external) {
        const pkg = e.to.startsWith('@') ? e.to.split('/').slice(0, 2).join('/') : e.to.split('/')[0]!;
        if (!e.to.startsWith('node:') && !dependencies.has(pkg)) problems.push(`${at} package: ${pkg} is not a dependency in package.json`);
        const why = packageViolation(file, e.to);
        if (why) problems.push(`${at} package: ${why}`);
      } else {
        const why = layerViolation(file, e.to);
        if (why) problems.push(`${at} layer: ${why} (${e.specifier})`);
      }
    }
    if (!COMPUTED_IMPORT_ALLOWED.some((a) => a.pattern.test(file))) {
      for (const line of scan.computed) problems.push(`${file}:${line} computed-import: module name is not a string literal`);
    }
    if (!EXIT_ALLOWED.some((p) => file.startsWith(p))) {
      for (const line of scan.exits) problems.push(`${file}:${line} exit: process.exit belongs to src/cli`);
    }
  }
  for (const group of cycles(graph)) {
    if (!group.every((f) => CYCLES_NOT_CHECKED.some((p) => f.startsWith(p)))) problems.push(`cycle: ${group.join(' -> ')}`);
  }
  return problems;
}

/** Imports between folders (or parts of server/) that go up or sideways (the renovation's metric). */
export function upwardImports(graph: ReadonlyMap<string, FileScan>): Edge[] {
  return [...graph.values()].flatMap((s) => s.edges).filter((e) => {
    if (e.external) return false;
    if (folderOf(e.from) === 'server' && folderOf(e.to) === 'server') return serverViolation(e.from, e.to) !== undefined;
    const a = rowOf(folderOf(e.from));
    const b = rowOf(folderOf(e.to));
    return folderOf(e.from) !== folderOf(e.to) && a >= 0 && b >= 0 && b <= a;
  });
}
