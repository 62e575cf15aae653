import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { ExitCode, RegctlError } from '../errors.js';
import { createContext, type RegisterCommand } from './context.js';
import type { Streams } from './output.js';
import { VERSION } from './version.js';
import { installAgent } from '../transport/agent.js';
import * as catalog from './commands/catalog.js';
import * as tags from './commands/tags.js';
import * as inspect from './commands/inspect.js';
import * as digest from './commands/digest.js';
import * as manifest from './commands/manifest.js';
import * as login from './commands/login.js';
import * as config from './commands/config.js';
import * as serve from './commands/serve.js';
import * as copy from './commands/copy.js';
import * as retag from './commands/retag.js';
import * as del from './commands/delete.js';
import * as archive from './commands/archive.js';

// Order here is the order in --help.
const COMMANDS: RegisterCommand[] = [
  serve.register,
  catalog.register,
  tags.register,
  inspect.register,
  digest.register,
  manifest.register,
  copy.register,
  retag.register,
  del.register,
  archive.register,
  login.register,
  config.register,
];

export function buildProgram(streams: Streams, onExitCode: (code: number) => void): Command {
  const program = new Command('regctl');
  program
    .description('Manage container images across registries, with a registry server built in.')
    .version(VERSION, '-V, --version')
    .option('--json', 'print machine-readable JSON on stdout')
    .option('-v, --verbose', 'log requests on stderr (credentials masked)')
    .option('--no-color', 'never colour the output (NO_COLOR is honoured too)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => streams.stdout.write(s),
      writeErr: (s) => streams.stderr.write(s),
    })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Examples:
  regctl serve --port 5000                      run a registry, data in ~/.local/share/regctl/registry
  regctl tags localhost:5000/myimage            list tags
  regctl copy docker.io/library/alpine:3.20 localhost:5000/alpine:3.20
  regctl retag --semver localhost:5000/myimage:1.9.2

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 authentication/authorisation, 5 integrity (digest mismatch, corrupt data)`,
  );
  const ctx = createContext(streams, onExitCode);
  for (const register of COMMANDS) register(program, ctx);
  // Sub-commands inherit output settings and error handling.
  for (const cmd of program.commands) {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: (s) => streams.stdout.write(s), writeErr: (s) => streams.stderr.write(s) });
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.configureOutput({ writeOut: (s) => streams.stdout.write(s), writeErr: (s) => streams.stderr.write(s) });
    }
  }
  return program;
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

/** Run the CLI with the given argv (without node and script). Returns the exit status. */
export async function run(argv: string[], streams: Streams): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(streams, (c) => {
    exitCode = c;
  });
  try {
    await program.parseAsync(commandVersionOption(program, argv), { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
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
  // undici parses HTTP with a WebAssembly module; V8's background optimising compile of it
  // holds the process ~100-150 ms at exit (measured: `regctl copy` up to date, 0.32 s -> 0.20 s).
  // The baseline compiler alone parses headers just as fast for our purposes.
  setFlagsFromString('--liftoff-only');
  // The real process gets the tuned keep-alive pool; in-process test runs keep the global dispatcher.
  installAgent();
  // `regctl tags ... | head` closes our stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
}
