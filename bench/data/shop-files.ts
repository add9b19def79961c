/**
 * The benchmark shop file tree of DESIGN.md §7 (~940 MB, 13,003 files at scale 1), deterministic from a seed:
 *
 *   images/NN/pNNNNNN.jpg       8,000 product images: incompressible bytes behind a JPEG header, 30–170 kB
 *   invoices/YYYY/INV-….pdf     5,000 invoices in two year folders: a small valid PDF of plain text, 15–40 kB
 *   config/…                    3 configuration files
 *
 *   npx tsx bench/data/shop-files.ts --out bench/.data/files [--scale 1] [--seed 1]
 *   npx tsx bench/data/shop-files.ts add-images --out bench/.data/files --count 100 [--seed 7]
 *
 * Image bytes come from AES-128-CTR over zeros keyed by (seed, image number): as incompressible as real
 * JPEGs, deterministic, and ~1 GB/s, where a JS PRNG would dominate the build time.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createRng, deriveSeed, type Rng } from '../lib/prng.js';

export interface ShopFilesOptions {
  seed: number;
  /** Multiplies the file counts; 1 = the full ~940 MB tree. */
  scale: number;
}

export interface ShopFilesStats {
  dir: string;
  files: number;
  bytes: number;
  ms: number;
}

export const FULL_SCALE_FILES = { images: 8_000, invoices: 5_000 } as const;
const IMAGES_PER_FOLDER = 100;
const INVOICE_YEARS = [2025, 2026] as const;
// Fixed mtimes (never "now"), so two builds from one seed are identical down to the metadata that
// change detection (size + mtime) looks at.
const BASE_MTIME_SEC = Date.UTC(2025, 0, 1) / 1000;

const JPEG_HEADER = Buffer.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
  0x00, 0x00,
]);

/** `length` deterministic, incompressible bytes for one (seed, stream) pair. */
function randomBytes(seed: number, stream: number, length: number): Buffer {
  const key = createHash('sha256').update(`shop-files:${seed}:${stream}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

function imagePath(dir: string, n: number): string {
  return path.join(
    dir,
    'images',
    String(Math.floor(n / IMAGES_PER_FOLDER)).padStart(3, '0'),
    `p${String(n).padStart(6, '0')}.jpg`,
  );
}

/** Writes product image number `n` (30–170 kB) and gives it a fixed mtime. Returns its size. */
function writeImage(dir: string, seed: number, n: number): number {
  const rng = createRng(deriveSeed(seed, 1_000_000 + n));
  const size = rng.int(30_000, 170_000);
  const body = randomBytes(seed, n, size);
  JPEG_HEADER.copy(body, 0);
  const file = imagePath(dir, n);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, body);
  const mtime = BASE_MTIME_SEC + n * 60;
  utimesSync(file, mtime, mtime);
  return size;
}

const ITEMS = [
  'Linen shirt',
  'Ceramic mug',
  'Canvas bag',
  'Scented candle',
  'Steel bottle',
  'Wool scarf',
  'Oak board',
];
const CUSTOMERS = ['Anna Mueller', 'Ben Schmidt', 'Clara Weber', 'David Koch', 'Emma Becker', 'Felix Bauer'];

/** Escapes a string for a PDF literal string. */
function pdfText(s: string): string {
  return s.replace(/[\\()]/g, (c) => `\\${c}`);
}

/**
 * A minimal but valid single-page PDF (catalog, pages, page, font, one uncompressed content stream, a
 * correct xref table) whose text is the invoice, padded with line items until it reaches `targetSize`.
 * Plain text streams make it compressible like real invoice PDFs often are not — a deliberate, stated choice.
 */
export function invoicePdf(rng: Rng, number: string, targetSize: number): Buffer {
  const lines: string[] = [
    `Invoice ${number}`,
    `Customer: ${rng.pick(CUSTOMERS)}`,
    'Example Shop GmbH, Berlin',
  ];
  const ops: string[] = ['BT', '/F1 9 Tf', '40 800 Td', '11 TL'];
  let total = 0;
  const emit = (text: string): void => {
    ops.push(`(${pdfText(text)}) '`);
  };
  for (const l of lines) emit(l);
  let i = 1;
  // ~900 bytes of PDF skeleton around the content stream.
  while (ops.join('\n').length < targetSize - 900) {
    const qty = rng.int(1, 5);
    const price = rng.int(300, 9_900);
    total += qty * price;
    emit(
      `${String(i).padStart(4, ' ')}  ${rng.pick(ITEMS).padEnd(16, ' ')} x${qty}  ${(price / 100).toFixed(2)} EUR`,
    );
    i++;
  }
  emit(`Total: ${(total / 100).toFixed(2)} EUR incl. 19% VAT`);
  ops.push('ET');
  const content = ops.join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, idx) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${idx + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

function writeInvoice(dir: string, seed: number, n: number, perYear: number): number {
  const rng = createRng(deriveSeed(seed, 2_000_000 + n));
  const year = INVOICE_YEARS[Math.min(INVOICE_YEARS.length - 1, Math.floor(n / perYear))]!;
  const number = `INV-${year}-${String(n + 1).padStart(6, '0')}`;
  const body = invoicePdf(rng, number, rng.int(15_000, 40_000));
  const file = path.join(dir, 'invoices', String(year), `${number}.pdf`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, body);
  const mtime = BASE_MTIME_SEC + n * 600;
  utimesSync(file, mtime, mtime);
  return body.length;
}

const CONFIG_FILES: Record<string, string> = {
  'config/shop.json': `${JSON.stringify(
    { name: 'Example Shop', currency: 'EUR', timezone: 'Europe/Berlin', taxRate: 0.19, invoicePrefix: 'INV' },
    null,
    2,
  )}\n`,
  'config/nginx.conf':
    'server {\n  listen 443 ssl;\n  server_name shop.example;\n  location / { proxy_pass http://127.0.0.1:3000; }\n  location /images/ { root /srv/shop/data; expires 30d; }\n}\n',
  'config/payments.env': 'PAYMENT_PROVIDER=stripe\nSTRIPE_WEBHOOK_TOLERANCE_SECONDS=300\nCURRENCY=EUR\n',
};

function validate(opts: ShopFilesOptions): void {
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
  if (!(opts.scale > 0 && opts.scale <= 10)) throw new Error(`scale must be in (0, 10], got ${opts.scale}`);
}

/** Builds the shop file tree in `dir`, replacing whatever was there. */
export function buildShopFiles(dir: string, opts: ShopFilesOptions): ShopFilesStats {
  validate(opts);
  const started = performance.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const images = Math.max(1, Math.round(FULL_SCALE_FILES.images * opts.scale));
  const invoices = Math.max(1, Math.round(FULL_SCALE_FILES.invoices * opts.scale));
  let bytes = 0;
  for (let n = 0; n < images; n++) bytes += writeImage(dir, opts.seed, n);
  const perYear = Math.ceil(invoices / INVOICE_YEARS.length);
  for (let n = 0; n < invoices; n++) bytes += writeInvoice(dir, opts.seed, n, perYear);
  for (const [rel, text] of Object.entries(CONFIG_FILES)) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    utimesSync(file, BASE_MTIME_SEC, BASE_MTIME_SEC);
    bytes += Buffer.byteLength(text);
  }
  return {
    dir,
    files: images + invoices + Object.keys(CONFIG_FILES).length,
    bytes,
    ms: performance.now() - started,
  };
}

/** The highest image number present under `dir/images`, or -1. */
function lastImageNumber(dir: string): number {
  let last = -1;
  const root = path.join(dir, 'images');
  let folders: string[];
  try {
    folders = readdirSync(root);
  } catch {
    return -1;
  }
  for (const folder of folders) {
    for (const name of readdirSync(path.join(root, folder))) {
      const m = /^p(\d+)\.jpg$/.exec(name);
      if (m) last = Math.max(last, Number(m[1]));
    }
  }
  return last;
}

/**
 * Adds `count` new product images after the highest existing number (the "100 new images" step of the
 * file benchmark). Their bytes depend on `seed` and their numbers, so they never duplicate existing images.
 */
export function addImages(dir: string, count: number, seed: number): { files: string[]; bytes: number } {
  const first = lastImageNumber(dir) + 1;
  const files: string[] = [];
  let bytes = 0;
  for (let n = first; n < first + count; n++) {
    bytes += writeImage(dir, seed, n);
    files.push(imagePath(dir, n));
  }
  return { files, bytes };
}

/** Total files and bytes under `dir` (for reports). */
export function treeSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

function main(argv: string[]): void {
  const add = argv[0] === 'add-images';
  const { values } = parseArgs({
    args: add ? argv.slice(1) : argv,
    options: {
      out: { type: 'string', default: 'bench/.data/files' },
      seed: { type: 'string', default: add ? '7' : '1' },
      scale: { type: 'string', default: '1' },
      count: { type: 'string', default: '100' },
    },
  });
  if (add) {
    const r = addImages(values.out, Number(values.count), Number(values.seed));
    console.log(`added ${r.files.length} images (${(r.bytes / 1e6).toFixed(1)} MB) to ${values.out}`);
    return;
  }
  const s = buildShopFiles(values.out, { seed: Number(values.seed), scale: Number(values.scale) });
  console.log(
    `built ${s.dir}: ${s.files} files, ${(s.bytes / 1e6).toFixed(1)} MB in ${(s.ms / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
