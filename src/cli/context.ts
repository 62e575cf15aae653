import type { Command } from 'commander';
import { Output, type Streams } from './output.js';

/** What a command's action needs from the CLI shell, so commands can run in-process in tests. */
export interface CommandContext {
  streams: Streams;
  /** Output configured from the global options (--json, --verbose, --no-color). */
  output(cmd: Command): Output;
  /** Set a non-zero exit status for an outcome that is not an error (e.g. a check that failed). */
  setExitCode(code: number): void;
}

/** Each file in commands/ exports one of these; it defines the command and lazily imports its feature. */
export type RegisterCommand = (program: Command, ctx: CommandContext) => void;

export function createContext(streams: Streams, onExitCode: (code: number) => void): CommandContext {
  return {
    streams,
    output(cmd: Command): Output {
      const g = cmd.optsWithGlobals() as { json?: boolean; verbose?: boolean; color?: boolean };
      return new Output(streams, { json: g.json, verbose: g.verbose, color: g.color });
    },
    setExitCode: onExitCode,
  };
}
