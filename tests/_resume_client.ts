/**
 * Resume test plumbing: a protocol client on either transport that can lose its connection the
 * way a real one does (WebSocket: the TCP connection ends without a close frame; QUIC: its
 * packets stop, through a UDP relay that goes silent, and the gateway's idle timeout notices),
 * and keeps every envelope it received with its `seq`.
 */
import { connectQuic, type QuicClientConnection } from "../src/transport/quic_client.ts";
import type { TransportKind } from "../src/core/transport.ts";
import { waitFor, within } from "./_helpers.ts";
import { testTls } from "./_quic_harness.ts";
import { RawWebSocket } from "./_raw_websocket.ts";

/** An envelope as received. */
export type Envelope = Record<string, unknown> & { type: string; seq?: number };

/** Relays UDP between one client and the gateway until it is told to go silent. */
export class UdpRelay implements AsyncDisposable {
  readonly #front = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly #back = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly #loops: Promise<void>[];
  #client: Deno.NetAddr | undefined;
  #silent = false;

  /** Relays to the gateway's QUIC port. */
  constructor(gatewayPort: number) {
    const gateway = { transport: "udp" as const, hostname: "127.0.0.1", port: gatewayPort };
    this.#loops = [
      this.#pump(this.#front, (data, from) => {
        this.#client = from;
        return this.#back.send(data, gateway);
      }),
      this.#pump(this.#back, (data) => this.#client && this.#front.send(data, this.#client)),
    ];
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#front.addr as Deno.NetAddr).port;
  }

  /** Drops every packet from now on, both ways: the network is gone. */
  silence(): void {
    this.#silent = true;
  }

  async #pump(
    conn: Deno.DatagramConn,
    forward: (data: Uint8Array, from: Deno.NetAddr) => Promise<number> | undefined,
  ): Promise<void> {
    try {
      for await (const [data, from] of conn) {
        if (!this.#silent) await forward(data, from as Deno.NetAddr);
      }
    } catch {
      // closed
    }
  }

  /** Closes both sockets. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#front.close();
    this.#back.close();
    await Promise.all(this.#loops);
  }
}

/** A protocol client that records what it receives and can drop its connection abruptly. */
export class ResumeClient implements AsyncDisposable {
  /** Every envelope received, in order. */
  readonly received: Envelope[];
  /** The transport. */
  readonly kind: TransportKind;
  readonly #send: (text: string) => Promise<void>;
  readonly #drop: () => Promise<void>;
  readonly #close: () => Promise<void>;
  /** Resolves with the close code once the connection is gone (1006: without a close). */
  readonly closed: Promise<{ code: number }>;
  #nextId = 100;

  private constructor(
    kind: TransportKind,
    received: Envelope[],
    send: (text: string) => Promise<void>,
    drop: () => Promise<void>,
    close: () => Promise<void>,
    closed: Promise<{ code: number }>,
  ) {
    this.kind = kind;
    this.received = received;
    this.#send = send;
    this.#drop = drop;
    this.#close = close;
    this.closed = closed;
  }

  /** Connects over WebSocket on a raw TCP connection. */
  static async websocket(port: number): Promise<ResumeClient> {
    const socket = await RawWebSocket.connect(port, "/ws");
    const received: Envelope[] = [];
    const closed = (async () => {
      for (;;) {
        const frame = await socket.readFrame().catch(() => null);
        if (frame === null) return { code: 1006 };
        if (frame.opcode === 0x8) {
          socket.close();
          return { code: (frame.payload[0] << 8) | frame.payload[1] };
        }
        if (frame.opcode === 0x1) {
          received.push(JSON.parse(new TextDecoder().decode(frame.payload)));
        }
      }
    })();
    return new ResumeClient(
      "websocket",
      received,
      (text) => socket.send(0x1, new TextEncoder().encode(text)),
      async () => {
        socket.close();
        await closed;
      },
      async () => {
        await socket.send(0x8, new Uint8Array([0x03, 0xe8])).catch(() => {});
        await within(closed, 3_000, "the close");
      },
      closed,
    );
  }

  /**
   * Connects over QUIC through `relay` (a fresh one per connection); idle timeouts of 1 s on
   * both sides, so a silenced relay ends the connection within about a second.
   */
  static async quic(relay: UdpRelay): Promise<ResumeClient> {
    const connection: QuicClientConnection = await connectQuic({
      hostname: "127.0.0.1",
      port: relay.port,
      caCerts: [testTls.caPem],
      idleTimeoutMs: 1_000,
      keepAliveIntervalMs: 300,
    });
    const received: Envelope[] = [];
    connection.onMessage = (text) => received.push(JSON.parse(text));
    return new ResumeClient(
      "quic",
      received,
      (text) => connection.send(text),
      async () => {
        relay.silence();
        await within(connection.closed, 5_000, "the QUIC idle timeout");
      },
      () => within(connection.close(), 3_000, "the close"),
      connection.closed,
    );
  }

  /** Sends one envelope. */
  send(envelope: Record<string, unknown>): Promise<void> {
    return this.#send(JSON.stringify(envelope));
  }

  /** Sends an envelope with a fresh id and waits for the reply with that id. */
  async call(type: string, fields: Record<string, unknown> = {}): Promise<Envelope> {
    const id = this.#nextId++;
    await this.send({ type, id, ...fields });
    let reply: Envelope | undefined;
    await waitFor(
      () => (reply = this.received.find((m) => m.id === id)) !== undefined,
      5_000,
      `the answer to ${type}`,
    );
    return reply!;
  }

  /** The highest `seq` received. */
  get lastSeq(): number {
    let last = 0;
    for (const m of this.received) if (typeof m.seq === "number" && m.seq > last) last = m.seq;
    return last;
  }

  /** Texts of the `chat.message` pushes received, in order. */
  chat(): string[] {
    return this.received
      .filter((m) => m.type === "push" && m.route === "chat.message")
      .map((m) => (m.data as { text: string }).text);
  }

  /** Loses the connection without a goodbye; resolves once it is gone on this side. */
  drop(): Promise<void> {
    return this.#drop();
  }

  /** Closes politely (1000). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#close();
  }
}
