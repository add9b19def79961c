/**
 * A Storage that loads its implementation on first use. The AWS SDK takes ~90 ms to import, and
 * every CLI command that may touch a repository (restore, verify, logs anchor …) paid it even with
 * a local folder; an S3 repository now loads it when it is first used. Its capabilities before
 * that are the conservative ones (no atomic create): the S3 storage itself only learns whether
 * conditional writes work by writing.
 */
import type {
  ByteRange,
  DeleteOptions,
  ObjectInfo,
  ProbeMode,
  PutBody,
  PutOptions,
  ListOptions,
  Storage,
  StorageCapabilities,
} from './types.js';

export class LazyStorage implements Storage {
  private inner: Storage | undefined;
  private loading: Promise<Storage> | undefined;

  /** `load` builds the real storage; it runs once, at the first call that needs it. */
  constructor(
    readonly url: string,
    private readonly load: () => Promise<Storage>,
    private readonly before: StorageCapabilities = { atomicCreate: false, local: false },
  ) {}

  get capabilities(): StorageCapabilities {
    return this.inner?.capabilities ?? this.before;
  }

  private storage(): Promise<Storage> {
    this.loading ??= this.load().then((s) => (this.inner = s));
    return this.loading;
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<void> {
    return (await this.storage()).put(key, body, options);
  }

  async get(key: string): Promise<Buffer> {
    return (await this.storage()).get(key);
  }

  async getInto(key: string, dest: Uint8Array): Promise<number> {
    return (await this.storage()).getInto(key, dest);
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    return (await this.storage()).getStream(key, range);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return (await this.storage()).head(key);
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    yield* (await this.storage()).list(prefix, options);
  }

  async delete(key: string, options?: DeleteOptions): Promise<void> {
    return (await this.storage()).delete(key, options);
  }

  async probe(mode?: ProbeMode): Promise<void> {
    return (await this.storage()).probe(mode);
  }

  async close(): Promise<void> {
    // Never loaded: nothing to release (and no reason to import the SDK now).
    if (!this.loading) return;
    return (await this.loading).close();
  }
}
