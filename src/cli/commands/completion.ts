import type { Command } from 'commander';
import { Argument } from 'commander';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('completion')
    .summary('print a shell completion script (bash, zsh, fish)')
    .description(
      `Print a completion script for SHELL. It completes commands, sub-commands, options and their values and, where cheap, repository and tag names from the registry in the word being completed (host:5000/<TAB>, host:5000/app:<TAB>; at most 1.5 s, nothing on failure).`,
    )
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
Examples:
  eval "$(regctl completion bash)"        # in ~/.bashrc
  eval "$(regctl completion zsh)"         # in ~/.zshrc, after compinit
  regctl completion fish > ~/.config/fish/completions/regctl.fish`,
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const { COMPLETION_SCRIPTS } = await import('../completion-scripts.js');
      ctx.streams.stdout.write(COMPLETION_SCRIPTS[shell]);
    });
}
