/**
 * The storage conformance suite: every Storage backend runs exactly these tests. Differences
 * between backends show only as capability flags (`atomicCreate`), never as backend names.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import type { ObjectInfo, Storage } from '../../src/backup/storage/types.js';

/** A fresh, empty, probed storage per call; the suite closes it. */
export type MakeStorage = () => Promise<Storage>;

const MiB = 1024 * 1024;

/** Deterministic incompressible bytes (xorshift), so large bodies need no memory to describe. */
export function* pseudoRandomChunks(total: number, chunkSize: number, seed = 1): Generator<Buffer> {
  let x = seed >>> 0 || 1;
  for (let done = 0; done < total;) {
    const n = Math.min(chunkSize, total - done);
    const buf = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf.writeUInt32LE(x >>> 0, i);
    }
    for (; i < n; i++) buf[i] = i & 0xff;
    done += n;
    yield buf;
  }
}

export async function* asAsync<T>(items: Iterable<T>): AsyncIterable<T> {
  for (const item of items) yield item;
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

export async function listAll(storage: Storage, prefix: string, startAfter?: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of storage.list(prefix, startAfter === undefined ? {} : { startAfter }))
    out.push(info);
  return out;
}

/** The rejection of `p`, asserted to be a StorageError with `code`. */
export async function storageError(p: Promise<unknown>, code: string): Promise<StorageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe(code);
  return err as StorageError;
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function withStorage(make: MakeStorage, fn: (s: Storage) => Promise<void>): Promise<void> {
  const s = await make();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * Known deviations of a test *server* from the contract, so the suite can assert them instead of
 * hiding them (each one is also checked to still exist).
 */
export interface ServerQuirks {
  /**
   * s3rver lists by walking its folders, so a key with a byte below "/" after a shared prefix
   * ("p/a-c") comes after the keys "inside" it ("p/a/b"); S3 itself lists in UTF-8 byte order.
   */
  folderWalkListOrder?: boolean;
}

/** Runs the shared suite against the backend `makeStorage` builds. */
export function runStorageConformance(
  name: string,
  makeStorage: MakeStorage,
  quirks: ServerQuirks = {},
): void {
  /** Asserts `actual` lists exactly `expected` (already in byte order), in that order unless the server walks folders. */
  const expectListed = (actual: string[], expected: string[]) => {
    if (quirks.folderWalkListOrder) {
      expect([...actual].sort(byteOrder)).toEqual(expected);
    } else {
      expect(actual).toEqual(expected);
    }
  };
  const test = (title: string, fn: (s: Storage) => Promise<void>, timeout?: number) =>
    it(title, () => withStorage(makeStorage, fn), timeout);

  describe(`storage conformance: ${name}`, () => {
    test('put then get returns the exact bytes; put overwrites; empty objects work', async (s) => {
      const body = Buffer.from('hello, repository \u00e9\u0000\xff');
      await s.put('objects/one', body);
      expect((await s.get('objects/one')).equals(body)).toBe(true);
      await s.put('objects/one', Buffer.from('second version'));
      expect((await s.get('objects/one')).toString()).toBe('second version');
      await s.put('objects/empty', new Uint8Array(0));
      expect((await s.get('objects/empty')).length).toBe(0);
      expect(await collect(await s.getStream('objects/empty'))).toHaveLength(0);
      expect((await s.head('objects/empty'))?.size).toBe(0);
      await storageError(s.getStream('objects/empty', { start: 0, end: 0 }), 'E_RANGE_NOT_SATISFIABLE');
    });

    test("getInto reads into the caller's memory and returns the size (also when it does not fit)", async (s) => {
      const body = Buffer.alloc(300_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
      await s.put('into/obj', body);
      const dest = new Uint8Array(new SharedArrayBuffer(400_000)).fill(0xee);
      expect(await s.getInto('into/obj', dest)).toBe(body.length);
      expect(Buffer.from(dest.subarray(0, body.length)).equals(body)).toBe(true);
      expect(dest[body.length]).toBe(0xee); // nothing past the object
      const small = new Uint8Array(1000);
      expect(await s.getInto('into/obj', small)).toBe(body.length); // larger: size still told
      await s.put('into/empty', new Uint8Array(0));
      expect(await s.getInto('into/empty', small)).toBe(0);
      await storageError(s.getInto('into/none', small), 'E_OBJECT_MISSING');
    });

    test('head gives size and time, or undefined when missing', async (s) => {
      const before = Date.now();
      await s.put('h/obj', Buffer.alloc(1234, 7));
      const info = await s.head('h/obj');
      expect(info?.key).toBe('h/obj');
      expect(info?.size).toBe(1234);
      expect(info?.lastModified).toBeGreaterThan(before - 60_000);
      expect(await s.head('h/none')).toBeUndefined();
      expect(await s.head('h')).toBeUndefined(); // a "folder" of keys is not an object
    });

    test('a missing object is E_OBJECT_MISSING (not transient) for get and getStream', async (s) => {
      const err = await storageError(s.get('nothing/here'), 'E_OBJECT_MISSING');
      expect(err.transient).toBe(false);
      expect(err.message).toContain('nothing/here');
      expect(err.hint).toBeTruthy();
      await storageError(s.getStream('nothing/here'), 'E_OBJECT_MISSING');
      await storageError(s.getStream('nothing/here', { start: 0, end: 9 }), 'E_OBJECT_MISSING');
    });

    test('ifAbsent creates once, then refuses with E_OBJECT_EXISTS and leaves the object untouched', async (s) => {
      await s.put('locks/a', Buffer.from('first'), { ifAbsent: true });
      await storageError(s.put('locks/a', Buffer.from('second'), { ifAbsent: true }), 'E_OBJECT_EXISTS');
      await storageError(
        s.put('locks/a', asAsync([Buffer.from('third')]), { ifAbsent: true }),
        'E_OBJECT_EXISTS',
      );
      expect((await s.get('locks/a')).toString()).toBe('first');
    });

    test('concurrent ifAbsent puts: exactly one wins when atomicCreate is promised', async (s) => {
      const writers = Array.from({ length: 8 }, (_, i) => Buffer.from(`writer ${i}`));
      const results = await Promise.allSettled(
        writers.map((w) => s.put('locks/race', w, { ifAbsent: true })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as StorageError).code).toBe('E_OBJECT_EXISTS');
      }
      const stored = (await s.get('locks/race')).toString();
      if (s.capabilities.atomicCreate) {
        expect(won).toHaveLength(1);
        expect(stored).toBe(`writer ${won[0]}`);
      } else {
        // Check-then-write: at least one wins and the object is one writer's whole body.
        expect(won.length).toBeGreaterThanOrEqual(1);
        expect(writers.map(String)).toContain(stored);
      }
    });

    test('a 40 MiB streamed put comes back byte for byte (whole and ranged)', async (s) => {
      const total = 40 * MiB + 12345;
      const want = createHash('sha256');
      for (const c of pseudoRandomChunks(total, MiB + 7, 42)) want.update(c);
      // Odd chunk sizes so part boundaries never line up with chunks.
      await s.put('big/blob', asAsync(pseudoRandomChunks(total, MiB + 7, 42)), { size: total });
      expect((await s.head('big/blob'))?.size).toBe(total);
      const got = createHash('sha256');
      let n = 0;
      for await (const c of await s.getStream('big/blob')) {
        got.update(c);
        n += c.length;
      }
      expect(n).toBe(total);
      expect(got.digest('hex')).toBe(want.digest('hex'));
      // A range across the 16 MiB part boundary.
      const all = Buffer.concat([...pseudoRandomChunks(17 * MiB, MiB + 7, 42)]);
      const slice = await collect(
        await s.getStream('big/blob', { start: 16 * MiB - 100, end: 16 * MiB + 99 }),
      );
      expect(slice.equals(all.subarray(16 * MiB - 100, 16 * MiB + 100))).toBe(true);
    }, 30_000);

    test('a streamed put of unknown size works, small and large', async (s) => {
      await s.put('stream/small', asAsync([Buffer.from('ab'), Buffer.from('cd')]));
      expect((await s.get('stream/small')).toString()).toBe('abcd');
      const total = 9 * MiB + 3;
      await s.put('stream/large', asAsync(pseudoRandomChunks(total, 256 * 1024, 7)));
      const back = await s.get('stream/large');
      expect(back.equals(Buffer.concat([...pseudoRandomChunks(total, 256 * 1024, 7)]))).toBe(true);
    });

    test('ranged reads: inclusive ends, clamped past the end, refused at or past the end', async (s) => {
      const body = Buffer.from('0123456789abcdefghij');
      await s.put('r/obj', body);
      const read = async (start: number, end: number) =>
        (await collect(await s.getStream('r/obj', { start, end }))).toString();
      expect(await read(0, 0)).toBe('0');
      expect(await read(10, 19)).toBe('abcdefghij');
      expect(await read(5, 9)).toBe('56789');
      expect(await read(15, 1000)).toBe('fghij');
      expect(await read(19, 19)).toBe('j');
      const err = await storageError(s.getStream('r/obj', { start: 20, end: 30 }), 'E_RANGE_NOT_SATISFIABLE');
      expect(err.message).toContain('20');
      await storageError(s.getStream('r/obj', { start: 5, end: 4 }), 'E_STORAGE_BAD_RANGE');
      await storageError(s.getStream('r/obj', { start: -1, end: 4 }), 'E_STORAGE_BAD_RANGE');
      // Breaking out of a stream early must not break later reads.
      for await (const chunk of await s.getStream('r/obj')) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
      expect((await s.get('r/obj')).equals(body)).toBe(true);
    });

    test('list returns byte-wise key order, honours prefixes (also mid-segment) and startAfter', async (s) => {
      const keys = [
        'p/a-c',
        'p/a/b',
        'p/a/c/d',
        'p/a0',
        'p/ab',
        'p/a.x',
        'p/z',
        'p/\u00e9t\u00e9',
        'p/\u{1F600}',
        'p/Z',
        'q/x',
        'pp',
      ];
      for (const k of keys) await s.put(k, Buffer.from(k));
      const all = await listAll(s, '');
      const sorted = [...keys].sort(byteOrder);
      expectListed(
        all.map((o) => o.key),
        sorted,
      );
      if (quirks.folderWalkListOrder) expect(all.map((o) => o.key)).not.toEqual(sorted); // the quirk is real
      expect(all.find((o) => o.key === 'p/ab')?.size).toBe(4);
      const under = (prefix: string) => sorted.filter((k) => k.startsWith(prefix));
      expectListed(
        (await listAll(s, 'p/')).map((o) => o.key),
        under('p/'),
      );
      expectListed(
        (await listAll(s, 'p')).map((o) => o.key),
        under('p'),
      );
      expectListed(
        (await listAll(s, 'p/a')).map((o) => o.key),
        ['p/a-c', 'p/a.x', 'p/a/b', 'p/a/c/d', 'p/a0', 'p/ab'],
      );
      expect((await listAll(s, 'p/a/')).map((o) => o.key)).toEqual(['p/a/b', 'p/a/c/d']);
      expect((await listAll(s, 'z/z/z')).map((o) => o.key)).toEqual([]);
      expect(await listAll(s, 'nothing/')).toEqual([]);
      expect(await listAll(s, 'p/a/b/')).toEqual([]);
      expectListed(
        (await listAll(s, 'p/', 'p/a/b')).map((o) => o.key),
        ['p/a/c/d', 'p/a0', 'p/ab', 'p/z', 'p/\u00e9t\u00e9', 'p/\u{1F600}'],
      );
      expect((await listAll(s, '', 'p/a/c')).map((o) => o.key)).toContain('p/a/c/d');
      expect((await listAll(s, 'p/', 'p/zz')).map((o) => o.key)).toEqual(['p/\u00e9t\u00e9', 'p/\u{1F600}']);
    });

    test('list pages through more than 1000 keys in order', async (s) => {
      const keys = Array.from(
        { length: 1005 },
        (_, i) => `many/${String((i * 7919) % 1005).padStart(4, '0')}`,
      );
      await parallel(keys, 16, (k) => s.put(k, Buffer.from(k)));
      await s.put('other/x', Buffer.from('x'));
      const listed = (await listAll(s, 'many/')).map((o) => o.key);
      expect(listed).toHaveLength(1005);
      expect(listed).toEqual([...keys].sort(byteOrder));
      expect(await listAll(s, '')).toHaveLength(1006);
      expect((await listAll(s, 'many/09')).map((o) => o.key)).toEqual(
        keys.filter((k) => k.startsWith('many/09')).sort(byteOrder),
      );
    }, 30_000);

    test('delete removes, and deleting a missing object is not an error', async (s) => {
      await s.put('d/x/y/obj', Buffer.from('1'));
      await s.put('d/keep', Buffer.from('2'));
      await s.delete('d/x/y/obj');
      expect(await s.head('d/x/y/obj')).toBeUndefined();
      await storageError(s.get('d/x/y/obj'), 'E_OBJECT_MISSING');
      await s.delete('d/x/y/obj');
      await s.delete('d/never/was');
      expect((await listAll(s, 'd/')).map((o) => o.key)).toEqual(['d/keep']);
      // The same key can be written again after its folder emptied.
      await s.put('d/x/y/obj', Buffer.from('3'));
      expect((await s.get('d/x/y/obj')).toString()).toBe('3');
    });

    test('deeply nested keys work', async (s) => {
      const key = 'a/b/c/d/e/f/g/h/i/j/object.bin';
      await s.put(key, Buffer.from('deep'));
      expect((await s.get(key)).toString()).toBe('deep');
      expect((await listAll(s, 'a/b/c/')).map((o) => o.key)).toEqual([key]);
    });

    test('invalid keys and prefixes are refused with E_STORAGE_BAD_KEY', async (s) => {
      for (const bad of [
        '',
        '/abs',
        'a//b',
        'trail/',
        '../up',
        'a/../b',
        '.tmp/x',
        'a/.hidden',
        'back\\slash',
        'nul\u0000x',
        'x'.repeat(1025),
      ]) {
        await storageError(s.put(bad, Buffer.from('x')), 'E_STORAGE_BAD_KEY');
        await storageError(s.get(bad), 'E_STORAGE_BAD_KEY');
      }
      await storageError(listAll(s, '../'), 'E_STORAGE_BAD_KEY');
      await storageError(listAll(s, '.tmp/'), 'E_STORAGE_BAD_KEY');
    });

    test('a body that throws is rethrown unchanged and nothing is stored', async (s) => {
      const boom = new Error('the encryptor failed');
      async function* failing() {
        yield Buffer.alloc(MiB, 1);
        yield Buffer.alloc(MiB, 2);
        throw boom;
      }
      await expect(s.put('fail/obj', failing())).rejects.toBe(boom);
      expect(await s.head('fail/obj')).toBeUndefined();
      expect(await listAll(s, '')).toEqual([]);
    });

    test('a body whose length differs from `size` is refused and nothing is stored', async (s) => {
      await storageError(
        s.put('size/short', asAsync([Buffer.alloc(50)]), { size: 100 }),
        'E_STORAGE_SIZE_MISMATCH',
      );
      await storageError(s.put('size/buf', Buffer.alloc(50), { size: 51 }), 'E_STORAGE_SIZE_MISMATCH');
      expect(await listAll(s, '')).toEqual([]);
    });

    test('probe passes for read and write, and leaves nothing visible behind', async (s) => {
      await s.probe('read');
      await s.probe('write');
      await s.probe();
      expect(await listAll(s, '')).toEqual([]);
      expect(typeof s.capabilities.atomicCreate).toBe('boolean');
      expect(s.url).toMatch(/^(file|s3):\/\//);
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function parallel<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}
