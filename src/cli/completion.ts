import type { Command, Option } from 'commander';
import type { Streams } from './output.js';

/**
 * `regctl __complete WORD... CURRENT`: what the shell scripts of `regctl completion` ask for.
 * Answers from the real command tree (commands, sub-commands, options and their choices) and,
 * where cheap, from the registry named in the current word (`host:5000/<TAB>` lists its
 * repositories, `host:5000/app:<TAB>` its tags) within REGISTRY_TIMEOUT_MS; on any failure,
 * silently nothing. One word per line on stdout; nothing on stderr.
 */

const REGISTRY_TIMEOUT_MS = 1_500;
/** Suggested for --platform (any os/arch[/variant] is accepted). */
const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/arm/v6', 'linux/386', 'linux/ppc64le', 'linux/s390x', 'linux/riscv64', 'windows/amd64'];

const takesValue = (o: Option): boolean => o.required || o.optional;

function findOption(chain: Command[], flag: string): Option | undefined {
  for (const c of chain) {
    const o = c.options.find((x) => x.long === flag || x.short === flag);
    if (o) return o;
  }
  return undefined;
}

interface Position {
  /** The command the line has reached, with its ancestors (innermost first). */
  chain: Command[];
  /** Arguments given to it so far. */
  positionals: number;
  /** The current word is the value of this option. */
  valueFor?: Option;
}

/** Walk the words before the current one down the command tree. */
function position(program: Command, before: string[]): Position {
  const chain = [program];
  let positionals = 0;
  let valueFor: Option | undefined;
  let rest = false;
  for (const w of before) {
    if (valueFor) {
      valueFor = undefined;
      continue;
    }
    if (!rest && w === '--') {
      rest = true;
      continue;
    }
    if (!rest && w.startsWith('-') && w !== '-') {
      const o = findOption(chain, w.split('=')[0]!);
      if (o && takesValue(o) && !w.includes('=')) valueFor = o;
      continue;
    }
    const sub = positionals === 0 ? chain[0]!.commands.find((c) => c.name() === w || c.aliases().includes(w)) : undefined;
    if (sub) chain.unshift(sub);
    else positionals++;
  }
  return { chain, positionals, ...(valueFor ? { valueFor } : {}) };
}

function optionWords(chain: Command[]): string[] {
  const words = chain.flatMap((c) => c.options.filter((o) => !o.hidden && o.long).map((o) => o.long!));
  return [...words, '--help'];
}

/** `HOST/partial` -> repositories, `HOST/repo:partial` -> tags; [] when the word names no registry. */
async function registryWords(cur: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const m = /^((?:https?:\/\/)?([^/\s]+))\/([^@\s]*)$/.exec(cur);
  if (!m) return [];
  const host = m[2]!;
  if (!(host.includes('.') || host.includes(':') || host === 'localhost')) return [];
  const { parseRegistryArg } = await import('../ref/reference.js');
  const { createRegistryClient } = await import('../wiring/registry-client.js');
  const registry = parseRegistryArg(m[1]!);
  const client = createRegistryClient({ env, client: { retry: { retries: 0 } } });
  const rest = m[3]!;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    const repo = rest.slice(0, colon);
    const tags = await client.repository(registry, repo).listTags();
    return tags.filter((t) => t.startsWith(rest.slice(colon + 1))).map((t) => `${m[1]}/${repo}:${t}`);
  }
  const repos = await client.catalog(registry, { limit: 1000 });
  return repos.filter((r) => r.startsWith(rest)).map((r) => `${m[1]}/${r}`);
}

function within<T>(p: Promise<T[]>, ms: number): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T[]>((resolve) => {
    timer = setTimeout(() => resolve([]), ms);
  });
  return Promise.race([p.catch(() => [] as T[]), late]).finally(() => clearTimeout(timer));
}

/** The completions for `words` (after `regctl`; the last one is the word being completed). */
export async function completions(program: Command, words: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const cur = words.length > 0 ? words[words.length - 1]! : '';
  const at = position(program, words.slice(0, -1));
  const starts = (list: readonly string[]): string[] => [...new Set(list.filter((w) => w.startsWith(cur)))];
  if (at.valueFor) {
    const o = at.valueFor;
    if (o.argChoices) return starts(o.argChoices);
    if (o.long === '--platform') return starts(PLATFORMS);
    return [];
  }
  if (cur.startsWith('-')) return starts(optionWords(at.chain)).sort();
  const here = at.chain[0]!;
  const subs = at.positionals === 0 ? here.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map((c) => c.name()) : [];
  const found = starts(subs).sort();
  if (here === program || here.registeredArguments.length === 0) return found;
  return [...found, ...(await within(registryWords(cur, env), REGISTRY_TIMEOUT_MS))];
}

/** Run `__complete`: never fails, never prints to stderr. */
export async function runComplete(build: () => Promise<Command>, words: string[], streams: Streams): Promise<number> {
  try {
    const program = await build();
    const out = await completions(program, words, streams.env ?? process.env);
    if (out.length > 0) streams.stdout.write(`${out.join('\n')}\n`);
  } catch (e) {
    // A broken line (or a bug here) completes nothing rather than printing into the prompt.
    if ((streams.env ?? process.env).REGCTL_DEBUG) streams.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  }
  return 0;
}
