/** A WebSocketServer for tests whose connections echo and record what they see. */
import type {
  ConnectionEvents,
  WebSocketConnection,
} from "../../../src/transport/websocket/connection.ts";
import {
  type UpgradeRequest,
  WebSocketServer,
  type WebSocketServerOptions,
} from "../../../src/transport/websocket/server.ts";
import { within } from "./_wait.ts";

/** How a connection ended. */
export interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** One server-side connection and what it saw. */
export class Recorded implements ConnectionEvents {
  readonly texts: string[] = [];
  readonly binaries: Uint8Array[] = [];
  readonly pings: Uint8Array[] = [];
  readonly pongs: { payload: Uint8Array; rttMs: number | undefined }[] = [];
  readonly #closed = Promise.withResolvers<Closed>();
  /** When onClosed ran (performance.now()), or undefined. */
  closedAt: number | undefined;

  constructor(
    readonly connection: WebSocketConnection,
    readonly request: UpgradeRequest,
    readonly echo: boolean,
  ) {}

  onText(text: string): void {
    this.texts.push(text);
    if (this.echo) this.connection.send(text);
  }
  onBinary(bytes: Uint8Array): void {
    this.binaries.push(bytes.slice());
    if (this.echo) this.connection.sendBinary(bytes);
  }
  onPing(payload: Uint8Array): void {
    this.pings.push(payload.slice());
  }
  onPong(payload: Uint8Array, rttMs: number | undefined): void {
    this.pongs.push({ payload: payload.slice(), rttMs });
  }
  onClosed(code: number, reason: string, wasClean: boolean): void {
    this.closedAt = performance.now();
    this.#closed.resolve({ code, reason, wasClean });
  }

  /** How the connection ended, within `ms`. */
  closed(ms = 5_000): Promise<Closed> {
    return within(this.#closed.promise, ms, "the server connection to close");
  }
}

/** A server on 127.0.0.1 port 0 that accepts every upgrade unless `upgrade` says otherwise. */
export class TestServer implements AsyncDisposable {
  readonly server: WebSocketServer;
  readonly connections: Recorded[] = [];
  readonly errors: unknown[] = [];
  #waiting: { index: number; resolve: (connection: Recorded) => void }[] = [];

  constructor(
    options: Partial<WebSocketServerOptions> = {},
    echo = true,
  ) {
    this.server = new WebSocketServer({
      hostname: "127.0.0.1",
      port: 0,
      upgrade: () => ({ accept: true }),
      onError: (error) => this.errors.push(error),
      ...options,
      open: (connection, request) => {
        const recorded = new Recorded(connection, request, echo);
        this.connections.push(recorded);
        const index = this.connections.length - 1;
        for (const waiter of this.#waiting) if (waiter.index === index) waiter.resolve(recorded);
        this.#waiting = this.#waiting.filter((waiter) => waiter.index !== index);
        return recorded;
      },
    });
  }

  /** The bound port. */
  get port(): number {
    return this.server.addr.port;
  }

  /** The connection opened `index`-th (from 0), waiting for it up to `ms`. */
  connection(index = 0, ms = 5_000): Promise<Recorded> {
    if (this.connections[index]) return Promise.resolve(this.connections[index]);
    const opened = new Promise<Recorded>((resolve) => this.#waiting.push({ index, resolve }));
    return within(opened, ms, `server connection ${index}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.close();
  }
}
