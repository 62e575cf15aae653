import type { CommandContext } from '../../context.js';
import type { Output } from '../../output.js';

/** Registry client settings from the command line: --verbose request log, the caller's environment. */
export function clientOptions(ctx: CommandContext, out: Output): { env?: NodeJS.ProcessEnv; verbose?: (line: string) => void } {
  return { env: ctx.streams.env, ...(out.verbose ? { verbose: (line: string) => out.debug(line) } : {}) };
}

/** The flags of `regctl retag`. */
export interface RetagFlags {
  semver?: boolean;
  version?: string;
  force?: boolean;
  latest?: boolean;
  dryRun?: boolean;
  rebuild?: boolean;
  prereleaseTags?: boolean;
}

