/**
 * One cluster per WAL archive. WAL segment names repeat from cluster to cluster (timeline 1,
 * segment 1, 2, 3 … on every new server), so WAL of a second cluster stored beside the first's —
 * after `database.connectionString` was pointed at a new server, or two configs sharing a
 * repository or `backup.stateDir` — would overwrite or mix with the first's and make its restores
 * replay the wrong records. The repository's WAL (`wal/cluster.json`) and the stream's local spool
 * (`<stateDir>/pg-wal/<slot>.cluster` beside the folder pg_receivewal resumes from, and the newest
 * WAL file's own page header in it) each name the system identifier of the cluster they hold; the
 * stream and base backups refuse any other.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import { SafetynetError } from '../../../errors.js';
import { WAL_PREFIX } from './wal.js';

const CLUSTER_KEY = `${WAL_PREFIX}cluster.json`;

interface ClusterRecord {
  systemIdentifier: string;
  since: string;
}

/** The marker file of the stream's spool folder `spool`. */
function spoolMarkerPath(spool: string): string {
  return `${spool}.cluster`;
}

/**
 * Checks that the repository's WAL and the local spool `spool` belong to the cluster with
 * `systemIdentifier` (recording it where nothing is recorded yet); E_PG_OTHER_CLUSTER if not.
 */
export async function checkClusterIdentity(
  deps: BackupDeps,
  systemIdentifier: string,
  spool: string,
): Promise<void> {
  const storage = deps.repo.storage;
  const stored = await storage
    .get(CLUSTER_KEY)
    .then((b) => parseRecord(b.toString('utf8'), `the repository's ${CLUSTER_KEY}`))
    .catch((err: unknown) => {
      if ((err as { code?: string }).code === 'E_OBJECT_MISSING') return undefined;
      throw err;
    });
  if (stored && stored.systemIdentifier !== systemIdentifier) {
    throw otherCluster(
      `the repository's WAL belongs to the PostgreSQL cluster with system identifier ${stored.systemIdentifier} (since ${stored.since}), and database.connectionString now reaches cluster ${systemIdentifier}`,
      'give the new cluster a repository of its own (backup.repository); the old one still restores the old cluster',
    );
  }
  const marker = spoolMarkerPath(spool);
  const local = await fsp
    .readFile(marker, 'utf8')
    .then((t) => parseRecord(t, marker))
    .catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
  // The spool's own WAL says which cluster wrote it (also in a spool from before the marker).
  let inSpool = local?.systemIdentifier;
  if (inSpool === undefined || inSpool === systemIdentifier) inSpool = (await spoolCluster(spool)) ?? inSpool;
  if (inSpool !== undefined && inSpool !== systemIdentifier) {
    throw otherCluster(
      `the WAL spool ${spool} holds WAL of the PostgreSQL cluster with system identifier ${inSpool}, and database.connectionString now reaches cluster ${systemIdentifier}`,
      `if the server was replaced on purpose: let the old cluster's stream finish uploading, then move ${spool} and ${marker} away (or give this config its own backup.stateDir or database.slot)`,
    );
  }
  const record = JSON.stringify({
    systemIdentifier,
    since: new Date(deps.clock.now()).toISOString(),
  } satisfies ClusterRecord);
  if (!stored) await storage.put(CLUSTER_KEY, Buffer.from(record + '\n'));
  if (!local) {
    await fsp.mkdir(path.dirname(marker), { recursive: true });
    await fsp.writeFile(marker, record + '\n');
  }
}

/** XLogLongPageHeaderData: xlp_info's XLP_LONG_HEADER bit, and where xlp_sysid sits. */
const XLP_LONG_HEADER = 0x0002;
const SYSID_OFFSET = 24;

/**
 * The system identifier in the long page header of the newest WAL file in `spool` (where
 * pg_receivewal resumes), or undefined when there is none yet (an empty folder, a new segment
 * still all zeros).
 */
async function spoolCluster(spool: string): Promise<string | undefined> {
  const names = (await fsp.readdir(spool).catch(() => [] as string[]))
    .filter((n) => /^[0-9A-F]{24}(\.partial)?$/.test(n))
    .sort()
    .reverse();
  for (const name of names) {
    const fh = await fsp.open(path.join(spool, name), 'r');
    try {
      const head = Buffer.alloc(SYSID_OFFSET + 8);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      if (bytesRead === head.length && head.readUInt16LE(0) !== 0 && head.readUInt16LE(2) & XLP_LONG_HEADER)
        return head.readBigUInt64LE(SYSID_OFFSET).toString();
    } finally {
      await fh.close();
    }
  }
  return undefined;
}

function parseRecord(text: string, where: string): ClusterRecord {
  let r: Partial<ClusterRecord> | undefined;
  try {
    r = JSON.parse(text) as Partial<ClusterRecord>;
  } catch {
    r = undefined;
  }
  if (typeof r?.systemIdentifier !== 'string') {
    throw new SafetynetError('E_PG_CLUSTER_MARKER', `${where} is damaged: it names no cluster`, {
      hint: `delete it if this repository and spool hold one cluster's WAL; safetynet records the cluster again`,
    });
  }
  return { systemIdentifier: r.systemIdentifier, since: String(r.since ?? 'unknown') };
}

function otherCluster(message: string, hint: string): SafetynetError {
  return new SafetynetError('E_PG_OTHER_CLUSTER', message, { hint, exitCode: 2 });
}
