import { accessSync, constants } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { Streams } from './output.js';
import type { CommandEntry } from './command-table.js';
import { VERSION } from './version.js';

// Everything else is imported where it is needed: `regctl --version` and `--help` load this
// module, version.js and (for help) command-table.js + help.js, and nothing more.

/** Global options that take a value as the next word (`--creds-file FILE`). */
const VALUE_OPTIONS = new Set(['--creds-file']);

/** The first word that is neither an option nor the value of one names the command. */
function commandNamed(COMMANDS: readonly CommandEntry[], argv: string[]): CommandEntry | undefined {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const words = head.filter((a, i) => !a.startsWith('-') && !(i > 0 && VALUE_OPTIONS.has(head[i - 1]!)));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name || c.alias === name);
}

/**
 * The program for `argv`: the real definition of the command it runs (or of every command when
 * `argv` is undefined), stubs for the rest.
 */
export async function buildProgram(streams: Streams, onExitCode: (code: number) => void, argv?: string[]): Promise<Command> {
  const { Command, Help } = await import('commander');
  const { COMMANDS, DESCRIPTION, EXAMPLES, GLOBAL_OPTIONS } = await import('./command-table.js');
  const { createContext } = await import('./context.js');
  const wanted = argv === undefined ? undefined : commandNamed(COMMANDS, argv);
  const real = new Set(argv === undefined ? COMMANDS.map((c) => c.load) : wanted ? [wanted.load] : []);
  const modules = new Map(await Promise.all([...real].map(async (load) => [load, await load()] as const)));
  const stubTerms = new WeakMap<Command, string>();
  const defaultTerm = Help.prototype.subcommandTerm;
  // Help is wrapped to the width of the streams we write to (commander would ask process.stdout).
  const output = {
    writeOut: (s: string) => streams.stdout.write(s),
    writeErr: (s: string) => streams.stderr.write(s),
    getOutHelpWidth: () => helpWidth(streams.stdout, streams.env),
    getErrHelpWidth: () => helpWidth(streams.stderr, streams.env),
  };
  const program = new Command('regctl');
  program
    .description(DESCRIPTION)
    .version(VERSION, GLOBAL_OPTIONS[0]![0], GLOBAL_OPTIONS[0]![1])
    .option(...GLOBAL_OPTIONS[1]!)
    .option(...GLOBAL_OPTIONS[2]!)
    .option(...GLOBAL_OPTIONS[3]!)
    .option(...GLOBAL_OPTIONS[4]!)
    .helpOption(...GLOBAL_OPTIONS[5]!)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({
      subcommandTerm(this: InstanceType<typeof Help>, cmd: Command): string {
        return stubTerms.get(cmd) ?? defaultTerm.call(this, cmd);
      },
    })
    .configureOutput(output)
    .exitOverride();
  program.addHelpText('after', EXAMPLES);
  // --creds-file is REGCTL_CREDS_FILE for this run: the registry client reads it from the environment.
  program.hook('preAction', (_program, action) => {
    const { credsFile } = action.optsWithGlobals() as { credsFile?: string };
    if (credsFile === undefined) return;
    // The file is read only when a registry asks for a login; a wrong path must not pass unseen.
    try {
      accessSync(credsFile, constants.R_OK);
    } catch (e) {
      throw new UsageError(`--creds-file ${credsFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    streams.env = { ...(streams.env ?? process.env), REGCTL_CREDS_FILE: credsFile };
  });
  const ctx = createContext(streams, onExitCode);
  const registered = new Set<CommandEntry['load']>();
  for (const entry of COMMANDS) {
    const mod = modules.get(entry.load);
    if (mod) {
      // One module may define several commands (import/export): they come out in table order.
      if (!registered.has(entry.load)) mod.register(program, ctx);
      registered.add(entry.load);
      continue;
    }
    const stub = program.command(entry.name).summary(entry.summary);
    if (entry.alias) stub.alias(entry.alias);
    stubTerms.set(stub, entry.term);
  }
  // Sub-commands inherit output settings and error handling; their descriptions are written
  // as paragraphs that commander wraps to the help width (a hard line break in the source
  // would cut every wrapped line short).
  for (const cmd of program.commands) {
    cmd.exitOverride();
    cmd.configureOutput(output);
    cmd.description(prose(cmd.description()));
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.configureOutput(output);
      sub.description(prose(sub.description()));
    }
  }
  return program;
}

/**
 * Join the lines of each paragraph (paragraphs are separated by a blank line; a line that
 * starts with a space or `-` stays on its own, for lists and examples).
 */
export function prose(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n \-])/g, '$1 ');
}

/**
 * Help is wrapped to the terminal's width; piped, to $COLUMNS when set (as `COLUMNS=100 regctl
 * copy --help | less` asks), else 80 columns.
 */
function helpWidth(stream: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const columns = Number(env.COLUMNS);
  return Number.isInteger(columns) && columns >= 20 && columns <= 1000 ? columns : 80;
}

/** A CommanderError, told apart without loading commander for it (and not by class name: bundling may rename it). */
function isCommanderError(e: unknown): e is { code: string; exitCode: number } {
  const { code, exitCode } = e as { code?: unknown; exitCode?: unknown };
  return e instanceof Error && typeof code === 'string' && code.startsWith('commander.') && typeof exitCode === 'number';
}

/** Credentials must never leak into an error line: mask user:pass@ in any URL we print. */
function redact(message: string): string {
  return message.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');
}

/**
 * Commander lets program options appear after the command name, so the program's boolean
 * `--version` would swallow a command's own `--version V` (retag --semver ... --version 1.9.2).
 * Joining it to its value as `--version=V` hands it to the command: the program's flag takes no value.
 */
function commandVersionOption(program: Command, argv: string[]): string[] {
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const cmd = at < 0 ? undefined : program.commands.find((c) => c.name() === argv[at] || c.aliases().includes(argv[at]!));
  if (!cmd?.options.some((o) => o.long === '--version' && o.required)) return argv;
  const out = argv.slice(0, at + 1);
  for (let i = at + 1; i < argv.length; i++) {
    if (argv[i] === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (argv[i] === '--version' && i + 1 < argv.length) out.push(`--version=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}

/** The most frequent probes of an installed CLI need neither commander nor any command module. */
function fastPath(argv: string[]): 'version' | 'help' | undefined {
  if (argv.length !== 1) return undefined;
  if (argv[0] === '--version' || argv[0] === '-V') return 'version';
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') return 'help';
  return undefined;
}

/**
 * What a bare name means for this command: schemes named by an earlier in-process run are
 * forgotten, and the opted-in default registry (REGCTL_REGISTRY, else `config set-default`)
 * replaces Docker Hub for names without a host.
 */
async function namingDefaults(env: NodeJS.ProcessEnv): Promise<void> {
  const [{ forgetSchemes }, { setDefaultRegistry, parseRegistryArg }] = await Promise.all([import('../ref/scheme.js'), import('../ref/reference.js')]);
  forgetSchemes();
  setDefaultRegistry(undefined);
  const fromEnv = env.REGCTL_REGISTRY?.trim() || undefined;
  if (fromEnv !== undefined) {
    const { UsageError } = await import('../errors.js');
    try {
      setDefaultRegistry(parseRegistryArg(fromEnv));
    } catch (e) {
      throw new UsageError(`REGCTL_REGISTRY: ${(e as Error).message}`);
    }
    return;
  }
  const { ConfigStore } = await import('../config/store.js');
  let stored: string | undefined;
  try {
    stored = new ConfigStore(env).defaultRegistry();
  } catch {
    // An unreadable settings file is reported by the commands that use it, not by every command.
  }
  if (stored !== undefined) setDefaultRegistry(parseRegistryArg(stored));
}

/** Run the CLI with the given argv (without node and script). Returns the exit status. */
export async function run(argv: string[], streams: Streams): Promise<number> {
  const probe = fastPath(argv);
  if (probe === 'version') {
    streams.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (probe === 'help') {
    const { renderHelp } = await import('./help.js');
    streams.stdout.write(renderHelp(helpWidth(streams.stdout, streams.env)));
    return 0;
  }
  if (argv.length === 0) {
    // No command is a usage error (as git does): the help goes where errors go.
    const { renderHelp } = await import('./help.js');
    streams.stderr.write(renderHelp(helpWidth(streams.stderr, streams.env)));
    return 2;
  }
  if (argv[0] === '__complete') {
    // The shell scripts of `regctl completion` ask here: answered from every command's definition.
    const { runComplete } = await import('./completion.js');
    return runComplete(() => buildProgram(streams, () => {}), argv.slice(1), streams);
  }
  const { ExitCode, RegctlError } = await import('../errors.js');
  let exitCode: number = ExitCode.ok;
  try {
    await namingDefaults(streams.env ?? process.env);
    const program = await buildProgram(streams, (c) => {
      exitCode = c;
    }, argv);
    await program.parseAsync(commandVersionOption(program, argv), { from: 'user' });
    return exitCode;
  } catch (e) {
    if (isCommanderError(e)) {
      // Commander already printed the message (or help/version on stdout).
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (e instanceof RegctlError) {
      streams.stderr.write(`error: ${redact(e.message)}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    streams.stderr.write(`error: ${redact(err?.message ?? String(e))}\n`);
    if ((streams.env ?? process.env).REGCTL_DEBUG) streams.stderr.write(`${err?.stack ?? ''}\n`);
    return ExitCode.error;
  }
}

/** Entry point for bin/regctl.js. */
export async function runMain(): Promise<void> {
  // The real process gets the tuned keep-alive pool (and V8's baseline compiler for undici's
  // WebAssembly parser, see agent.ts); in-process test runs keep the global dispatcher.
  const argv = process.argv.slice(2);
  if (!fastPath(argv)) (await import('../transport/agent.js')).installAgent();
  // `regctl tags ... | head` closes our stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  // Ctrl-C exits 130 with one line; copy/import/export take it to clean up first (interrupt.ts).
  if (!fastPath(argv)) (await import('./interrupt.js')).installInterruptExit(process.stderr);
  // process.stdin is opened only if a command reads it (creating it costs ~1.5 ms).
  const streams: Streams = {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
  };
  process.exitCode = await run(argv, streams);
  // A completion must not wait for a registry that is slow to answer (the answer is printed).
  if (argv[0] === '__complete') process.exit(0);
}
