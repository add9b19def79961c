/**
 * The CLI loads only the command group a call needs; this checks that the table saying which
 * group owns which command agrees with what the groups register, so no command is ever missing.
 */
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { GROUPS, GROUP_OF, buildProgram, groupFor } from '../../src/cli/program.js';

describe('command groups', () => {
  it('every top-level command is mapped to the group that registers it, and nothing else is', async () => {
    const registered: Record<string, string> = {};
    for (const [group, load] of Object.entries(GROUPS)) {
      const program = new Command('safetynet');
      (await load()).register(program);
      for (const c of program.commands) registered[c.name()] = group;
    }
    expect(GROUP_OF).toEqual(registered);
  });

  it('finds the command word past the global --config value, and falls back to every group', async () => {
    const argv = (...a: string[]) => ['node', 'safetynet', ...a];
    expect(groupFor(argv('--config', 'restore', 'backup', 'db'))).toBe('backup');
    expect(groupFor(argv('--config=x.json', 'restore', 'db'))).toBe('restore');
    expect(groupFor(argv('backups', 'list', '--json'))).toBe('repository');
    expect(groupFor(argv('--help'))).toBeUndefined();
    expect(groupFor(argv('restor', 'db'))).toBeUndefined();
    const one = await buildProgram(argv('doctor'));
    expect(one.commands.map((c) => c.name()).sort()).toEqual(['doctor', 'wal']);
    const all = await buildProgram(argv('restor'));
    expect(all.commands.length).toBe(Object.keys(GROUP_OF).length);
  });
});
