/**
 * A TCP proxy on loopback in front of a real PostgreSQL server that can lose the answer to one
 * COMMIT: it forwards the COMMIT (the server commits), drops everything the server says after it,
 * and closes the connection. The client cannot tell whether its transaction went in — the fault a
 * server restart or a network cut at the wrong moment causes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** The simple-query message `COMMIT` as the pg client sends it: 'Q', length 11, "COMMIT\0". */
const COMMIT = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 11]), Buffer.from('COMMIT\0')]);

export class LossyProxy {
  private armed = false;
  /** COMMITs whose answers were lost so far. */
  lost = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free port of 127.0.0.1 and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<LossyProxy> {
    const holder: { proxy?: LossyProxy } = {};
    const server = createServer((client) => holder.proxy!.pair(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new LossyProxy(server, (server.address() as { port: number }).port);
    return holder.proxy;
  }

  /** Loses the answer to the next COMMIT any connection sends. */
  loseNextCommitReply(): void {
    this.armed = true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pair(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    this.sockets.add(client).add(upstream);
    let mute = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.armed && chunk.includes(COMMIT)) {
        this.armed = false;
        mute = true;
        this.lost++;
        // Long enough for the server to commit; then the client learns only that it is cut off.
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 300);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!mute) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}
