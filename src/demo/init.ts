/**
 * `demo init`: builds the demo shop in a folder (default `demo/`) — config, age identity, shop
 * database, sample invoices and product images, shop config files, an admin account — and is
 * idempotent: whatever exists is kept (never a new identity over an old one, never a re-seeded
 * database, never a second password for an existing account), so `npm start` can run it every time.
 */
import { randomInt } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadIdentities, writeNewIdentityFile } from '../backup/crypto/index.js';
import { loadConfig, type SafetynetConfig } from '../config/index.js';
import { SafetynetError } from '../errors.js';
import { createLogger } from '../log/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { auditAdmin } from '../web/audit.js';
import type { ScryptParams } from '../web/auth/password.js';
import { FileAdminUserStore } from '../web/auth/users.js';
import { CATALOG } from './catalog.js';
import { writeInvoice } from './invoice.js';
import {
  DEMO_ADMIN_USER,
  DEMO_CONFIG_FILE,
  DEMO_FOLDERS,
  DEMO_IDENTITY_FILE,
  SAMPLE_SHOP_CONFIG,
  demoConfigJson,
  fileSetPath,
  machineTimezone,
  panelUrl,
} from './layout.js';
import { productImage } from './png.js';
import { createRng, randomSeed } from './rng.js';
import { seedShopDb, type SeedOptions } from './seed.js';
import { productImageName } from './shop-db.js';

export interface InitOptions {
  /** The demo folder (created when missing). */
  dir: string;
  /** Seed for the sample data (default: random). */
  seed?: number;
  /** "Now" for the seeded dates (default: the clock). */
  now?: number;
  /** Sizes of the sample data (tests make it smaller). */
  sizes?: SeedOptions;
  /** scrypt cost of the admin password hash (tests lower it; the default is the panel's). */
  scrypt?: ScryptParams;
  /** Environment for loading the config (PORT changes the URL). */
  env?: NodeJS.ProcessEnv;
}

/** One thing init made or found. `path` is relative to the demo folder. */
export interface InitItem {
  path: string;
  what: string;
}

export type AdminAccount =
  | { user: string; created: true; password: string }
  | { user: string; created: false; users: string[] };

export interface InitReport {
  dir: string;
  configFile: string;
  created: InitItem[];
  kept: InitItem[];
  admin: AdminAccount;
  url: string;
  /** The seed the sample data was built from (only when the database was created). */
  seed?: number;
  warnings: string[];
}

/** A random password that is easy to type: 4 groups of 5 from an unambiguous alphabet (~100 bits). */
export function randomPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let s = '';
    for (let i = 0; i < 5; i++) s += alphabet[randomInt(alphabet.length)];
    groups.push(s);
  }
  return groups.join('-');
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

async function isSqliteFile(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    return bytesRead === 16 && head.equals(SQLITE_MAGIC);
  } finally {
    await fh.close();
  }
}

/** Creates whatever is missing of the demo in `opts.dir`; see the module comment. */
export async function initDemo(opts: InitOptions): Promise<InitReport> {
  const dir = path.resolve(opts.dir);
  const rel = (p: string) => path.relative(dir, p) || '.';
  const created: InitItem[] = [];
  const kept: InitItem[] = [];
  const warnings: string[] = [];
  await fsp.mkdir(dir, { recursive: true });
  for (const f of DEMO_FOLDERS) await fsp.mkdir(path.join(dir, f), { recursive: true });

  // 1. The config file, with the recipient of the identity (made first when it does not exist).
  const configFile = path.join(dir, DEMO_CONFIG_FILE);
  const configExisted = existsSync(configFile);
  if (!configExisted) {
    const identityFile = path.join(dir, DEMO_IDENTITY_FILE);
    let recipient: string;
    if (existsSync(identityFile)) {
      recipient = (await loadIdentities(identityFile))[0]!.recipient;
      kept.push({ path: DEMO_IDENTITY_FILE, what: `age identity (public key ${recipient})` });
    } else {
      recipient = (await writeNewIdentityFile(identityFile)).recipient;
      created.push({ path: DEMO_IDENTITY_FILE, what: `age identity, mode 0600 (public key ${recipient})` });
    }
    const json = demoConfigJson(recipient, machineTimezone());
    await writeFileAtomic(configFile, JSON.stringify(json, null, 2) + '\n');
    created.push({ path: DEMO_CONFIG_FILE, what: 'config' });
  } else {
    kept.push({ path: DEMO_CONFIG_FILE, what: 'config' });
  }
  for (const [file, text] of Object.entries(SAMPLE_SHOP_CONFIG)) {
    const abs = path.join(dir, file);
    if (existsSync(abs)) continue;
    await writeFileAtomic(abs, text);
    created.push({ path: file, what: 'sample shop config' });
  }

  const config = loadConfig({ configPath: configFile, cwd: dir, env: opts.env ?? process.env });
  warnings.push(...config.warnings);

  // 2. The identity of an existing config: never replaced, and it must match the recipients.
  if (configExisted) await checkIdentity(config, rel, kept, warnings);

  // 3. The shop database (and its sample invoices, which belong to its orders).
  if (config.database.type !== 'sqlite') {
    throw new SafetynetError('E_DEMO_DB', `database.type is "${config.database.type}" in ${configFile}; the demo shop is an SQLite database`, {
      hint: 'set database.type to "sqlite" in the demo config, or delete the demo folder to start over',
      exitCode: 2,
    });
  }
  const dbFile = config.database.path;
  let seed: number | undefined;
  if (existsSync(dbFile)) {
    if (!(await isSqliteFile(dbFile))) {
      throw new SafetynetError('E_DEMO_DB', `${dbFile} exists but is not an SQLite database`, {
        hint: 'move the file away (init never overwrites it), or delete the demo folder to start over',
        exitCode: 2,
      });
    }
    kept.push({ path: rel(dbFile), what: 'shop database' });
  } else {
    seed = opts.seed ?? randomSeed();
    await fsp.mkdir(path.dirname(dbFile), { recursive: true });
    const seeded = await seedShopDb(dbFile, createRng(seed), opts.now ?? Date.now(), opts.sizes);
    const c = seeded.counts;
    created.push({
      path: rel(dbFile),
      what:
        `shop database, WAL mode: ${c.customers} customers, ${c.products} products, ${c.orders} orders, ` +
        `${c.order_items} order items, ${c.payments} payments, ${c.inventory_movements} inventory movements`,
    });
    const invoicesDir = fileSetPath(config, 'invoices', 'data/invoices');
    let bytes = 0;
    for (const inv of seeded.invoices) bytes += (await writeInvoice(invoicesDir, inv)).bytes;
    created.push({
      path: rel(invoicesDir),
      what: `${seeded.invoices.length} sample invoice PDFs (${Math.round(bytes / 1024)} KiB)`,
    });
  }

  // 4. Product images: one per product, each written only when missing.
  const imagesDir = fileSetPath(config, 'images', 'data/images');
  await fsp.mkdir(imagesDir, { recursive: true });
  let images = 0;
  for (const [i, p] of CATALOG.entries()) {
    const file = path.join(imagesDir, productImageName(p.sku));
    if (existsSync(file)) continue;
    // Seeded per product, so a re-created image is byte-for-byte the one that was there.
    await writeFileAtomic(file, productImage(p.colour, createRng(7919 * (i + 1))));
    images++;
  }
  if (images) created.push({ path: rel(imagesDir), what: `${images} product images (PNG)` });
  else kept.push({ path: rel(imagesDir), what: `${CATALOG.length} product images` });

  // 5. The admin account: only when there is none at all (a removed "admin" stays removed).
  const users = new FileAdminUserStore(config.admin.users, opts.scrypt ? { scrypt: opts.scrypt } : {});
  const existing = (await users.list()).map((u) => u.name);
  let admin: AdminAccount;
  if (existing.length === 0) {
    const password = randomPassword();
    await users.add(DEMO_ADMIN_USER, password);
    admin = { user: DEMO_ADMIN_USER, created: true, password };
    created.push({ path: rel(config.admin.users), what: `admin account "${DEMO_ADMIN_USER}"` });
  } else {
    admin = { user: existing.includes(DEMO_ADMIN_USER) ? DEMO_ADMIN_USER : existing[0]!, created: false, users: existing };
    kept.push({ path: rel(config.admin.users), what: `admin accounts: ${existing.join(', ')}` });
  }

  if (created.length) await logInit(config, created, admin);
  return {
    dir,
    configFile,
    created,
    kept,
    admin,
    url: panelUrl(config),
    ...(seed !== undefined ? { seed } : {}),
    warnings,
  };
}

/** An existing config's identity must exist and match a recipient; a missing one is not re-made. */
async function checkIdentity(
  config: SafetynetConfig,
  rel: (p: string) => string,
  kept: InitItem[],
  warnings: string[],
): Promise<void> {
  const file = config.backup.identity;
  if (!file) {
    warnings.push('backup.identity is not set: restore tests and drills cannot read the backups');
    return;
  }
  if (!existsSync(file)) {
    throw new SafetynetError(
      'E_DEMO_IDENTITY_MISSING',
      `the demo's identity ${file} is missing; the backups in the demo repository were sealed to it`,
      {
        hint: `put the identity file back, or delete the demo folder ${config.baseDir} to start a fresh demo (its backups are then gone too)`,
        exitCode: 2,
      },
    );
  }
  const recipients = (await loadIdentities(file)).map((i) => i.recipient);
  if (!recipients.some((r) => config.backup.recipients.includes(r))) {
    warnings.push(
      `the identity ${rel(file)} (public key ${recipients[0]}) is not among backup.recipients: backups sealed from now on cannot be opened with it`,
    );
  }
  kept.push({ path: rel(file), what: `age identity (public key ${recipients[0]})` });
}

/** A `system` entry saying what init made, and the `admin` audit entry of the new account. */
async function logInit(config: SafetynetConfig, created: InitItem[], admin: AdminAccount): Promise<void> {
  const log = await createLogger({ config, writer: 'inline', notify: (t) => process.stderr.write(t + '\n') });
  try {
    log.system.info('demo shop initialised', { details: { created: created.map((c) => c.path) } });
    if (admin.created) {
      let user = 'unknown';
      try {
        user = os.userInfo().username;
      } catch {
        // no passwd entry (containers)
      }
      const origin = `cli:${user}@${os.hostname()}`;
      await auditAdmin(log, `admin account change: added user "${admin.user}"`, {
        actor: origin,
        action: 'user.add',
        outcome: 'success',
        origin,
        target: admin.user,
        via: 'demo init',
      });
    }
    await log.flush();
  } finally {
    await log.close();
  }
}
