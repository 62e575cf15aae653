import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

// Placeholder: filled in by the issue that owns this command.
export function register(_program: Command, _ctx: CommandContext): void {}
