/**
 * The benchmark harness itself: the restic peer wrapper against the real restic binary on a tiny folder,
 * and the report helpers (ratio, table, JSON lines with machine info).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  folderBytes,
  initResticRepo,
  resticBackup,
  resticRestore,
  resticStoredBytes,
  resticVersion,
} from '../../bench/lib/restic.js';
import { appendResults, formatTable, ratio, timed, type Comparison } from '../../bench/lib/report.js';
import { tempDir } from '../helpers/tmp.js';

describe('restic peer wrapper', () => {
  it('inits, backs up, measures and restores with the real restic', async () => {
    expect(await resticVersion()).toMatch(/^0\.1[4-9]\.|^0\.[2-9]\d\./);
    const root = tempDir();
    const data = path.join(root, 'data');
    mkdirSync(path.join(data, 'invoices'), { recursive: true });
    writeFileSync(path.join(data, 'invoices', 'a.txt'), 'invoice A\n'.repeat(1000));
    writeFileSync(path.join(data, 'b.bin'), Buffer.alloc(50_000, 7));

    const repo = await initResticRepo(path.join(root, 'repo'));
    const first = await resticBackup(repo, data);
    expect(first.filesNew).toBe(2);
    expect(first.snapshotId).toMatch(/^[0-9a-f]{8,64}$/); // 0.14 prints the short id
    expect(first.wallMs).toBeGreaterThan(0);
    expect(first.dataAddedUncompressedBytes).toBeGreaterThan(60_000);
    const stored = resticStoredBytes(repo);
    expect(stored).toBe(folderBytes(repo.repo));
    // v2 repository: restic compressed the very repetitive 60 kB (the rest is keys, index, snapshot, trees).
    expect(stored).toBeLessThan(20_000);

    const second = await resticBackup(repo, data);
    expect(second.filesUnmodified).toBe(2);

    const target = path.join(root, 'restored');
    const restored = await resticRestore(repo, target);
    expect(restored.wallMs).toBeGreaterThan(0);
    expect(readFileSync(path.join(target, data, 'invoices', 'a.txt'), 'utf8')).toBe(
      'invoice A\n'.repeat(1000),
    );

    await expect(resticRestore(repo, target, 'deadbeef')).rejects.toThrow(
      /restic restore deadbeef .* exited 1: .*deadbeef/,
    );
  });
});

describe('report helpers', () => {
  const rows: Comparison[] = [
    { metric: 'full backup', unit: 'ms', ours: 3200, peer: 6400, peerName: 'restic 0.14.0', goalRatio: 1 },
    { metric: 'stored', unit: 'bytes', ours: 300e6, peer: 285e6, peerName: 'restic 0.14.0', goalRatio: 1 },
  ];

  it('computes ratios and prints ours, the peer and the ratio with the goal', () => {
    expect(ratio(rows[0]!)).toBe(0.5);
    expect(ratio({ ours: 0, peer: 0 })).toBe(1);
    expect(ratio({ ours: 1, peer: 0 })).toBe(Number.POSITIVE_INFINITY);
    const table = formatTable(rows).split('\n');
    expect(table[0]).toMatch(/^metric\s+ours\s+peer\s+ours\/peer\s+goal$/);
    expect(table[2]).toMatch(/full backup\s+3\.20 s\s+6\.40 s \(restic 0\.14\.0\)\s+0\.500\s+met/);
    expect(table[3]).toMatch(/stored\s+300\.0 MB\s+285\.0 MB .*1\.053\s+MISSED/);
  });

  it('appends JSON lines with the date and machine info', async () => {
    const dir = tempDir();
    const { ms } = await timed(() => new Promise((r) => setTimeout(r, 20)));
    expect(ms).toBeGreaterThanOrEqual(15);
    appendResults('db-backup', rows, { seed: 1 }, dir);
    appendResults('db-backup', rows.slice(0, 1), {}, dir);
    const lines = readFileSync(path.join(dir, 'db-backup.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ bench: 'db-backup', metric: 'full backup', ratio: 0.5, seed: 1 });
    expect(rec.machine.cpus).toBeGreaterThan(0);
    expect(rec.machine.node).toBe(process.version);
    expect(Date.parse(rec.date)).toBeGreaterThan(0);
  });
});
