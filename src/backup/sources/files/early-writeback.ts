/**
 * Early writeback for a restore that ends with one flush of the whole tree: every `everyBytes`
 * written, a background `sync -f` (syncfs of the file system) starts, one at a time, so the disk
 * writes while the restore still decrypts and the final flush finds little left. Errors here are
 * ignored: the final flush (durable-tree.ts) is the one that reports them.
 */
import { execFile } from 'node:child_process';

export class EarlyWriteback {
  private since = 0;
  private running: Promise<void> | null = null;
  /** Flushes started. */
  started = 0;

  constructor(
    private readonly root: string,
    private readonly everyBytes = 128 * 1024 * 1024,
  ) {}

  /** Counts `bytes` written; starts a flush when enough have piled up and none is running. */
  wrote(bytes: number): void {
    this.since += bytes;
    if (this.since < this.everyBytes || this.running) return;
    this.since = 0;
    this.started++;
    this.running = new Promise<void>((resolve) => {
      execFile('sync', ['-f', this.root], { timeout: 10 * 60_000 }, () => resolve());
    }).finally(() => {
      this.running = null;
    });
  }

  /** Waits for a flush in progress (so the final one does not queue behind it blindly). */
  async settle(): Promise<void> {
    await this.running;
  }
}
