/**
 * pgBackRest 2.45 as the benchmark's peer: a stanza on the benchmark cluster (zst level 1,
 * AES-256-CBC, process-max 2, start-fast, archive_command = archive-push, archive_timeout 60), its
 * commands run as the `postgres` OS user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const PEER = 'pgBackRest 2.45';
export const BIN = '/usr/lib/postgresql/15/bin';

export function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

/** A folder owned by the postgres OS user (mode 0700 for data directories). */
export function postgresDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
  chownSync(dir, uidOf('postgres'), uidOf('postgres'));
}

export function asPostgres(cmd: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface Peer {
  conf: string;
  repo: string;
  /** The archive_command line for postgresql.conf. */
  archiveCommand: string;
  /** Writes the configuration once the cluster's folder and port are known. */
  configure(c: { dataDir: string; port: number; socketDir: string }): void;
  /** Arguments of `pgbackrest` for a command. */
  args(command: string, extra?: string[]): string[];
}

export function pgBackRest(work: string): Peer {
  const repo = path.join(work, 'pgbackrest');
  const conf = path.join(work, 'pgbackrest.conf');
  postgresDir(repo, 0o750);
  return {
    conf,
    repo,
    archiveCommand: `pgbackrest --config=${conf} --stanza=shop archive-push %p`,
    configure({ dataDir, port, socketDir }) {
      writeFileSync(
        conf,
        [
          '[global]',
          `repo1-path=${repo}`,
          'repo1-cipher-type=aes-256-cbc',
          'repo1-cipher-pass=bench-pass-0123456789',
          'repo1-retention-full=99',
          'compress-type=zst',
          'compress-level=1',
          'process-max=2',
          'start-fast=y',
          'log-level-console=warn',
          `log-path=${work}`,
          `lock-path=${work}`,
          '',
          '[shop]',
          `pg1-path=${dataDir}`,
          `pg1-port=${port}`,
          `pg1-socket-path=${socketDir}`,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
    },
    args: (command, extra = []) => [`--config=${conf}`, '--stanza=shop', ...extra, command],
  };
}
