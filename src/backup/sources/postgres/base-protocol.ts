/**
 * The replication protocol's BASE_BACKUP command (PostgreSQL 15 and newer), run by node-postgres
 * on a replication connection instead of by a `pg_basebackup` child: the server's tar archive
 * arrives here as CopyData messages, with no second process copying 1.5 GB through a pipe
 * (bench/pg: pg_basebackup alone spent 1.1-1.3 s of CPU on a 1.5 GB cluster), and the backup does
 * not wait for the server's WAL archiver (`WAIT false`): safetynet stores the WAL it needs itself.
 *
 * The server answers (protocol docs, "Streaming Replication Protocol"): a result set with the
 * start LSN and timeline; one with the tablespaces; then one COPY OUT whose CopyData messages
 * begin with a type byte — 'n' a new archive (name, tablespace path), 'd' data of the archive or
 * of the manifest, 'm' the manifest begins, 'p' progress; then a result set with the end LSN.
 */
import type pg from 'pg';

/** What the server sends, in order; each handler runs synchronously as its message arrives. */
export interface BaseBackupHandlers {
  /** A new archive begins (`base.tar` for the data directory; `<oid>.tar` for a tablespace). */
  archive(name: string, tablespacePath: string): void;
  /** Bytes of the current archive. */
  archiveData(chunk: Buffer): void;
  /** Bytes of the backup manifest (after every archive). */
  manifestData(chunk: Buffer): void;
}

export interface BaseBackupResult {
  startLsn: string;
  stopLsn: string;
  timeline: number;
}

/** The BASE_BACKUP command text: a fast checkpoint, a manifest, no wait for WAL archiving. */
export function baseBackupCommand(label: string, fast: boolean): string {
  const quoted = `'${label.replace(/'/g, "''")}'`;
  const opts = [`LABEL ${quoted}`, "MANIFEST 'yes'", 'WAIT false', 'PROGRESS false'];
  if (fast) opts.push("CHECKPOINT 'fast'");
  return `BASE_BACKUP (${opts.join(', ')})`;
}

interface RowDescription {
  fields: { name: string }[];
}
interface DataRow {
  fields: (string | null)[];
}
interface CopyData {
  chunk: Buffer;
}
interface Connection {
  query(text: string): void;
}

/**
 * A node-postgres submittable (what `client.query()` accepts besides SQL text) running one
 * BASE_BACKUP. `done` settles when the server says it is ready again, or with its error.
 */
export class BaseBackupQuery {
  readonly done: Promise<BaseBackupResult>;
  private resolve!: (r: BaseBackupResult) => void;
  private reject!: (err: Error) => void;
  private resultSet = -1;
  private start: { lsn: string; tli: number } | undefined;
  private end: { lsn: string; tli: number } | undefined;
  private inManifest = false;
  private failed: Error | undefined;

  constructor(
    private readonly text: string,
    private readonly handlers: BaseBackupHandlers,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // the caller awaits it; never an unhandled rejection meanwhile
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleRowDescription(_msg: RowDescription): void {
    this.resultSet++;
  }

  handleDataRow(msg: DataRow): void {
    const [a, b] = msg.fields;
    // Result sets: 0 the start position, 1 the tablespaces (archive() sees each one again as its
    // archive begins), 2 the end position.
    if (this.resultSet === 0) this.start = { lsn: String(a), tli: Number(b) };
    else if (this.resultSet === 2) this.end = { lsn: String(a), tli: Number(b) };
  }

  handleCopyData(msg: CopyData): void {
    if (this.failed) return;
    const chunk = msg.chunk;
    try {
      switch (chunk[0]) {
        case 0x64: // 'd'
          if (this.inManifest) this.handlers.manifestData(chunk.subarray(1));
          else this.handlers.archiveData(chunk.subarray(1));
          break;
        case 0x6e: {
          // 'n': archive name and tablespace path, each NUL-terminated
          const nul = chunk.indexOf(0, 1);
          const name = chunk.toString('utf8', 1, nul);
          const loc = chunk.toString('utf8', nul + 1, chunk.indexOf(0, nul + 1));
          this.handlers.archive(name, loc);
          break;
        }
        case 0x6d: // 'm'
          this.inManifest = true;
          break;
        default: // 'p' (progress) and anything a newer server may add
          break;
      }
    } catch (err) {
      // A handler refused the stream (a second tablespace, say): remember it, answer at the end.
      this.failed = err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handleError(err: Error): void {
    this.reject(this.failed ?? err);
  }

  handleReadyForQuery(): void {
    if (this.failed) return this.reject(this.failed);
    if (!this.start || !this.end)
      return this.reject(new Error('the server ended BASE_BACKUP without its WAL range'));
    this.resolve({
      startLsn: this.start.lsn,
      stopLsn: this.end.lsn,
      timeline: this.end.tli,
    });
  }
}

/** Runs `query` on `client` (a replication connection). */
export function submitBaseBackup(client: pg.Client, query: BaseBackupQuery): Promise<BaseBackupResult> {
  void client.query(query as unknown as pg.QueryConfig);
  return query.done;
}
