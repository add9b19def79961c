import type { Command } from 'commander';

/** Registers this group's commands (filled in by the work that owns them). */
export function register(_program: Command): void {}
