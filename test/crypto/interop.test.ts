/**
 * Interop with independent age implementations: the Debian `age` CLI (Go) and the
 * `age-encryption` npm package (typage), in both directions, plus the `zstd` CLI.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { Decrypter, Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import {
  createOpenStream,
  createSealStream,
  generateIdentity,
  loadIdentities,
  openBuffer,
  parseIdentity,
  parseRecipients,
  sealBuffer,
} from '../../src/backup/crypto/index.js';
import { decryptAge, encryptAge } from '../../src/backup/crypto/age.js';
import { tempDir } from '../helpers/tmp.js';
import { ageKeygen, randomish, sh, testData, writeKeyFile } from './helpers.js';

const CHUNK = 65536;
// Plaintext sizes around the 64 KiB STREAM chunk boundaries, and a few MB.
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * 1024 * 1024 + 17];

function setup() {
  const dir = tempDir();
  const ours = generateIdentity();
  const theirs = ageKeygen(dir);
  const oursFile = writeKeyFile(dir, ours.identity);
  return { dir, ours, oursFile, theirs };
}

async function streamThrough(input: Buffer, t: NodeJS.ReadWriteStream, piece = 10_000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += piece) pieces.push(input.subarray(i, i + piece));
  return buffer(Readable.from(pieces).pipe(t));
}

describe('age payload alone at exact chunk boundaries (no zstd)', () => {
  it('age -d opens ours, and we open age -r output, at every boundary size', async () => {
    const { dir, oursFile, ours, theirs } = setup();
    const recipients = parseRecipients([ours.recipient]);
    const theirIds = await loadIdentities(theirs.file);
    for (const size of SIZES) {
      const plain = randomish(size, size);
      const sealed = encryptAge(plain, recipients);
      const file = path.join(dir, `ours-${size}.age`);
      writeFileSync(file, sealed);
      expect(sh(`age -d -i '${oursFile}' '${file}'`).equals(plain), `age -d, size ${size}`).toBe(true);

      const fromCli = sh(`age -r ${theirs.recipient}`, plain);
      expect(decryptAge(fromCli, theirIds).equals(plain), `decrypt age -r output, size ${size}`).toBe(true);
    }
  });
});

describe('sealed objects (age around zstd)', () => {
  it('`age -d -i KEY OBJECT | zstd -d` gives the plaintext back, at every size', () => {
    const { dir, ours, oursFile } = setup();
    const recipients = parseRecipients([ours.recipient]);
    for (const size of SIZES) {
      const plain = testData(size, size + 3);
      const file = path.join(dir, `obj-${size}`);
      writeFileSync(file, sealBuffer(plain, recipients));
      expect(sh(`age -d -i '${oursFile}' '${file}' | zstd -d`).equals(plain), `size ${size}`).toBe(true);
    }
  });

  it('opens `zstd | age -r` output with openBuffer and createOpenStream, at every size', async () => {
    const { theirs } = setup();
    const ids = await loadIdentities(theirs.file);
    for (const size of SIZES) {
      const plain = testData(size, size + 5);
      const sealed = sh(`zstd -q -c | age -r ${theirs.recipient}`, plain);
      expect(openBuffer(sealed, ids).equals(plain), `openBuffer, size ${size}`).toBe(true);
      expect(
        (await streamThrough(sealed, createOpenStream(ids), 7777)).equals(plain),
        `stream, size ${size}`,
      ).toBe(true);
    }
  });

  it('opens multi-frame zstd streams (zstd on several inputs concatenated)', async () => {
    const { theirs } = setup();
    const ids = await loadIdentities(theirs.file);
    const a = testData(100_000, 1);
    const b = testData(70_000, 2);
    const zst = Buffer.concat([sh('zstd -q -c', a), sh('zstd -q -c -3', b)]);
    const sealed = sh(`age -r ${theirs.recipient}`, zst);
    const both = Buffer.concat([a, b]);
    expect(openBuffer(sealed, ids).equals(both)).toBe(true);
    expect((await streamThrough(sealed, createOpenStream(ids))).equals(both)).toBe(true);
  });

  it('createSealStream output opens with age | zstd and with openBuffer, at every size', async () => {
    const { dir, ours, oursFile } = setup();
    const recipients = parseRecipients([ours.recipient]);
    const ids = [parseIdentity(ours.identity)];
    for (const size of SIZES) {
      const plain = testData(size, size + 9);
      const sealed = await streamThrough(plain, createSealStream(recipients, { level: 3 }), 50_000);
      const file = path.join(dir, `stream-${size}`);
      writeFileSync(file, sealed);
      expect(sh(`age -d -i '${oursFile}' '${file}' | zstd -d`).equals(plain), `cli, size ${size}`).toBe(true);
      expect(openBuffer(sealed, ids).equals(plain), `openBuffer, size ${size}`).toBe(true);
    }
  });

  it('reads header and payload fed one byte at a time', async () => {
    const { ours } = setup();
    const plain = testData(3000, 4);
    const sealed = sealBuffer(plain, parseRecipients([ours.recipient]));
    expect(
      (await streamThrough(sealed, createOpenStream([parseIdentity(ours.identity)]), 1)).equals(plain),
    ).toBe(true);
  });

  it('multiple recipients: each identity opens it alone, with our code and with the age CLI', async () => {
    const { dir, ours, oursFile, theirs } = setup();
    const third = generateIdentity();
    const recipients = parseRecipients([theirs.recipient, ours.recipient, third.recipient]);
    const plain = testData(200_000, 11);
    const file = path.join(dir, 'multi');
    writeFileSync(file, sealBuffer(plain, recipients));
    for (const keyFile of [oursFile, theirs.file, writeKeyFile(dir, third.identity, 'third.txt')]) {
      expect(sh(`age -d -i '${keyFile}' '${file}' | zstd -d`).equals(plain), keyFile).toBe(true);
      expect(openBuffer(sh(`cat '${file}'`), await loadIdentities(keyFile)).equals(plain), keyFile).toBe(
        true,
      );
    }
    // And the reverse: age -r with several recipients, opened by the second one.
    const sealed = sh(`zstd -q -c | age -r ${generateIdentity().recipient} -r ${ours.recipient}`, plain);
    expect(openBuffer(sealed, [parseIdentity(ours.identity)]).equals(plain)).toBe(true);
  });

  it('an identity file holding several keys opens objects sealed to any of them', async () => {
    const { dir, ours, theirs } = setup();
    const file = path.join(dir, 'both.txt');
    writeFileSync(file, `${sh(`cat '${theirs.file}'`).toString()}\n${ours.identity}\n`);
    const ids = await loadIdentities(file);
    const plain = testData(5000, 12);
    expect(openBuffer(sealBuffer(plain, parseRecipients([ours.recipient])), ids).equals(plain)).toBe(true);
    expect(openBuffer(sealBuffer(plain, parseRecipients([theirs.recipient])), ids).equals(plain)).toBe(true);
  });
});

describe('the age-encryption npm package (typage)', () => {
  it('decrypts our objects, and we decrypt its output', async () => {
    const { ours } = setup();
    const recipients = parseRecipients([ours.recipient]);
    const ids = [parseIdentity(ours.identity)];
    for (const size of [0, CHUNK, CHUNK + 1, 300_000]) {
      const plain = randomish(size, size + 1);
      const d = new Decrypter();
      d.addIdentity(ours.identity);
      expect(
        Buffer.from(await d.decrypt(encryptAge(plain, recipients))).equals(plain),
        `typage -d, ${size}`,
      ).toBe(true);

      const e = new Encrypter();
      e.addRecipient(ours.recipient);
      expect(decryptAge(await e.encrypt(plain), ids).equals(plain), `we -d typage, ${size}`).toBe(true);
    }
  });

  it('opens a whole sealed object (age + zstd) made by typage and the zstd CLI', async () => {
    const { ours } = setup();
    const plain = testData(150_000, 21);
    const e = new Encrypter();
    e.addRecipient(ours.recipient);
    const sealed = await e.encrypt(sh('zstd -q -c', plain));
    expect(openBuffer(sealed, [parseIdentity(ours.identity)]).equals(plain)).toBe(true);
  });

  it('identities: typage keys load in ours and ours in typage', async () => {
    const { generateIdentity: tGen, identityToRecipient: tToRecipient } = await import('age-encryption');
    const theirs = await tGen();
    expect(parseIdentity(theirs).recipient).toBe(await tToRecipient(theirs));
    const ours = generateIdentity();
    expect(await tToRecipient(ours.identity)).toBe(ours.recipient);
  });
});
