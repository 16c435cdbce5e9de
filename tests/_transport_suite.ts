/**
 * One behaviour suite for every transport: each harness (WebSocket, QUIC on each engine)
 * calls `runTransportTests` with a way to configure the gateway and to connect clients.
 */
import assert from "node:assert/strict";
import type { RunningGateway } from "../src/app.ts";
import { startGateway } from "../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../src/config/config.ts";
import { Logger } from "../src/core/logger.ts";
import type { TransportKind } from "../src/core/transport.ts";
import { sample, scrape, within } from "./_helpers.ts";

/** How a connection ended, as the client saw it. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** Messages a test client received, handed out in order by bounded waits. */
export class MessageQueue {
  readonly #inbox: string[] = [];
  readonly #waiters: Array<(text: string | null) => void> = [];
  #ended = false;

  /** Adds a received message. */
  push(text: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(text);
    else this.#inbox.push(text);
  }

  /** The connection closed: pending and later waits fail at once. */
  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }

  /** The next message; rejects after `timeoutMs` or when the connection closed first. */
  next(timeoutMs = 2_000): Promise<string> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(new Error("Closed"));
    return within(
      new Promise<string>((resolve, reject) =>
        this.#waiters.push((text) => text === null ? reject(new Error("Closed")) : resolve(text))
      ),
      timeoutMs,
      "a message",
    );
  }
}

/** A client connection as the suite drives it. */
export interface TestClient {
  /** Sends one envelope (or any text) as one message. */
  send(text: string): Promise<void>;
  /** Sends one binary message; absent where the transport has no binary messages. */
  sendBinary?(bytes: Uint8Array): Promise<void>;
  /** The next text message; rejects after `timeoutMs` or when the connection closes first. */
  next(timeoutMs?: number): Promise<string>;
  /** Resolves when the connection has closed. */
  readonly closed: Promise<CloseInfo>;
  /** Closes from the client side and waits for it. */
  close(): Promise<void>;
}

/** Gateway settings the suite varies, independent of the transport. */
export interface SuiteConfig {
  session?: { heartbeat_ttl_sec?: number; check_interval_sec?: number };
  protocol?: { max_message_bytes?: number; max_protocol_errors?: number };
  /** The transport's `max_connections`. */
  maxConnections?: number;
}

/** What a transport provides to run the suite. */
export interface TransportHarness {
  /** Test name prefix. */
  name: string;
  /** The transport label the gateway uses. */
  kind: TransportKind;
  /** A gateway config that enables this transport on 127.0.0.1 port 0 with `suite` applied. */
  config(suite: SuiteConfig): GatewayConfigInput;
  /** Connects a well-behaved client (it answers transport-level pings, if any). */
  connect(gateway: RunningGateway): Promise<TestClient>;
  /** Connects a client that sends nothing at all after connecting, not even pongs. */
  connectSilent(gateway: RunningGateway): Promise<TestClient>;
}

async function withGateway(
  harness: TransportHarness,
  suite: SuiteConfig,
  fn: (gateway: RunningGateway) => Promise<void>,
): Promise<void> {
  const input = harness.config(suite);
  const config = parseConfig({
    ...input,
    metrics: { host: "127.0.0.1", port: 0, ...input.metrics },
  });
  const gateway = startGateway(config, { logger: new Logger("error") });
  try {
    await fn(gateway);
  } finally {
    await gateway.shutdown(2_000);
  }
}

async function reply(client: TestClient, text: string): Promise<Record<string, unknown>> {
  await client.send(text);
  return JSON.parse(await client.next(2_000));
}

/** Registers the shared behaviour tests for one transport. */
export function runTransportTests(harness: TransportHarness): void {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `${harness.name}: ${name}`, fn });
  const kind = harness.kind;

  test("answers ping with pong carrying the id and a timestamp", async () => {
    await withGateway(harness, {}, async (gateway) => {
      const client = await harness.connect(gateway);
      const before = Date.now();
      const pong = await reply(client, '{"type":"ping","id":7}');
      assert.equal(pong.type, "pong");
      assert.equal(pong.id, 7);
      assert.ok(typeof pong.ts === "number" && pong.ts >= before - 5, `bad ts ${pong.ts}`);
      assert.equal(gateway.sessions.count(kind), 1);
      await client.close();
    });
  });

  test("echoes a request's data in a response with the same id", async () => {
    await withGateway(harness, {}, async (gateway) => {
      const client = await harness.connect(gateway);
      const data = { text: "héllo", list: [1, 2, 3], nested: { ok: true } };
      const response = await reply(
        client,
        JSON.stringify({ type: "request", id: 8, route: "echo", data }),
      );
      assert.deepEqual(response, { type: "response", id: 8, data });
      const unknown = await reply(client, '{"type":"request","id":9,"route":"nope"}');
      assert.equal(unknown.code, "unknown_route");
      assert.equal(unknown.id, 9);
      await client.close();
    });
  });

  test("echoes a message many reads long whole, between small ones sent at once", async () => {
    await withGateway(harness, { protocol: { max_message_bytes: 256 * 1024 } }, async (gateway) => {
      const client = await harness.connect(gateway);
      // Distinct text throughout, so bytes from a reused read buffer would show.
      const big = Array.from({ length: 20_000 }, (_, i) => i.toString(36)).join(",");
      const sent = [
        { type: "request", id: 1, route: "echo", data: "a" },
        { type: "request", id: 2, route: "echo", data: big },
        { type: "request", id: 3, route: "echo", data: "b" },
        { type: "request", id: 4, route: "echo", data: big.split(",").reverse().join(",") },
        { type: "request", id: 5, route: "echo", data: "c" },
      ];
      await Promise.all(sent.map((message) => client.send(JSON.stringify(message))));
      for (const { id, data } of sent) {
        assert.deepEqual(JSON.parse(await client.next(5_000)), { type: "response", id, data });
      }
      await client.close();
    });
  });

  test("answers malformed and unknown messages with errors and stays up", async () => {
    await withGateway(harness, {}, async (gateway) => {
      const client = await harness.connect(gateway);
      assert.equal((await reply(client, "not json")).code, "bad_json");
      assert.equal((await reply(client, "[1,2]")).code, "bad_envelope");
      assert.equal((await reply(client, '{"id":3}')).code, "bad_envelope");
      const unknown = await reply(client, '{"type":"teleport","id":4}');
      assert.deepEqual([unknown.type, unknown.code, unknown.id], ["error", "unknown_type", 4]);
      if (client.sendBinary) {
        await client.sendBinary(new Uint8Array([1, 2, 3]));
        assert.equal(JSON.parse(await client.next(2_000)).code, "binary_unsupported");
      }
      assert.equal((await reply(client, '{"type":"ping","id":5}')).type, "pong");
      assert.equal(gateway.sessions.count(kind), 1);
      await client.close();
    });
  });

  test("closes a client that keeps sending garbage with 1008", async () => {
    await withGateway(harness, { protocol: { max_protocol_errors: 3 } }, async (gateway) => {
      const client = await harness.connect(gateway);
      for (let i = 0; i < 3; i++) await client.send("garbage");
      const closed = await within(client.closed, 3_000, "close after garbage");
      assert.equal(closed.code, 1008);
      assert.equal(gateway.metrics.disconnects.get("protocol_errors"), 1);
    });
  });

  test("closes a session that sends an oversized message with 1009", async () => {
    await withGateway(harness, { protocol: { max_message_bytes: 1024 } }, async (gateway) => {
      const client = await harness.connect(gateway);
      assert.equal((await reply(client, '{"type":"ping","id":1}')).type, "pong");
      await client.send(
        JSON.stringify({ type: "request", id: 2, route: "echo", data: "x".repeat(2000) }),
      );
      const closed = await within(client.closed, 3_000, "close after an oversized message");
      assert.equal(closed.code, 1009);
      assert.equal(gateway.sessions.count(kind), 0);
    });
  });

  test("closes a silent session with 4000 heartbeat timeout", async () => {
    const session = { heartbeat_ttl_sec: 2, check_interval_sec: 1 };
    await withGateway(harness, { session }, async (gateway) => {
      const silent = await harness.connectSilent(gateway);
      const started = performance.now();
      const closed = await within(silent.closed, 6_000, "the heartbeat close");
      const elapsed = performance.now() - started;
      assert.deepEqual(closed, { code: 4000, reason: "heartbeat timeout" });
      assert.ok(elapsed >= 1_500, `closed after ${elapsed} ms, before the 2 s TTL`);
      assert.equal(gateway.metrics.heartbeatTimeouts, 1);
      assert.equal(gateway.sessions.count(kind), 0);
    });
  });

  test("a client that keeps sending outlives the heartbeat TTL", async () => {
    const session = { heartbeat_ttl_sec: 2, check_interval_sec: 1 };
    await withGateway(harness, { session }, async (gateway) => {
      const client = await harness.connect(gateway);
      for (let i = 0; i < 8; i++) { // 4 s: twice the TTL
        const pong = await reply(client, `{"type":"ping","id":${i}}`);
        assert.equal(pong.id, i);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(gateway.metrics.heartbeatTimeouts, 0);
      assert.equal(gateway.sessions.count(kind), 1);
      await client.close();
    });
  });

  test("refuses connections past max_connections and counts them", async () => {
    await withGateway(harness, { maxConnections: 2 }, async (gateway) => {
      const a = await harness.connect(gateway);
      const b = await harness.connect(gateway);
      const third = await harness.connect(gateway).then(
        (client) => within(client.closed, 3_000, "the refused client's close"),
        (error: Error) => error,
      );
      if (!(third instanceof Error)) assert.equal(third.code, 4001);
      assert.equal(gateway.metrics.rejected.max_connections, 1);
      assert.equal(gateway.sessions.count(kind), 2);
      await a.close();
      await within(
        (async () => {
          while (gateway.sessions.count(kind) !== 1) await new Promise((r) => setTimeout(r, 20));
        })(),
        3_000,
        "the session count to drop",
      );
      const c = await harness.connect(gateway);
      assert.equal((await reply(c, '{"type":"ping","id":1}')).type, "pong");
      await b.close();
      await c.close();
    });
  });

  test("closes every session with 1001 going away on shutdown", async () => {
    const input = harness.config({});
    const gateway = startGateway(
      parseConfig({ ...input, metrics: { enabled: false } }),
      { logger: new Logger("error") },
    );
    try {
      const clients = await Promise.all([harness.connect(gateway), harness.connect(gateway)]);
      await gateway.shutdown(3_000);
      for (const client of clients) {
        const closed = await within(client.closed, 3_000, "the shutdown close");
        assert.deepEqual(closed, { code: 1001, reason: "going away" });
      }
      assert.equal(gateway.metrics.disconnects.get("shutdown"), 2);
    } finally {
      await gateway.shutdown();
    }
  });

  test("reports its traffic in the Prometheus metrics", async () => {
    await withGateway(harness, {}, async (gateway) => {
      const client = await harness.connect(gateway);
      for (let i = 0; i < 5; i++) await reply(client, `{"type":"ping","id":${i}}`);
      await reply(client, "garbage");
      const text = await scrape(gateway);
      const label = `{transport="${kind}"}`;
      assert.equal(sample(text, `gateway_connections_active${label}`), 1);
      assert.equal(sample(text, `gateway_connections_total${label}`), 1);
      assert.equal(sample(text, `gateway_messages_received_total${label}`), 6);
      assert.equal(sample(text, `gateway_messages_sent_total${label}`), 6);
      assert.equal(sample(text, `gateway_error_replies_total{code="bad_json"}`), 1);
      assert.equal(sample(text, "gateway_message_handling_seconds_count"), 5);
      assert.ok(sample(text, "gateway_bytes_received_total")! >= 5 * 22 + 7);
      await client.close();
    });
  });
}
