/**
 * WebTransport on the QUIC listener: the shared transport suite over a capsule-reading
 * WebTransport client, the refusals (path, Origin, draining, capacity, malformed requests,
 * handshake timeout), datagrams, and Deno's own WebTransport client as a second, independent
 * implementation. Chromium itself is in tests/browser/.
 */
import assert from "node:assert/strict";
import type { RunningGateway } from "../../src/app.ts";
import { startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import { DisconnectHeartbeatTimeout } from "../../src/core/disconnect.ts";
import { Logger } from "../../src/core/logger.ts";
import { Router } from "../../src/services/router.ts";
import { H3Error, Setting } from "../../src/transport/webtransport/http3.ts";
import { encodeVarint } from "../../src/transport/webtransport/varint.ts";
import { encodeFrame as encodeEnvelopeFrame } from "../../src/transport/quic_framing.ts";
import { waitFor, within } from "../_helpers.ts";
import { worldService } from "../fixtures/zone_service.ts";
import { quicPort, quicTestConfig, testTls } from "../_quic_harness.ts";
import { runTransportTests, type TestClient, type TransportHarness } from "../_transport_suite.ts";
import { runAuthTests } from "../_auth_suite.ts";
import {
  BROWSER_SETTINGS,
  connectWebTransport,
  type WebTransportClientOptions,
  type WebTransportTestSession,
} from "../_webtransport_client.ts";

const issued = new WeakMap<RunningGateway, number>();

/** Connects and waits until the gateway has counted the session or its refusal. */
async function connectAdmitted(gateway: RunningGateway, openStream: boolean): Promise<TestClient> {
  const port = await quicPort(gateway);
  const expected = (issued.get(gateway) ?? 0) + 1;
  issued.set(gateway, expected);
  const { status, session } = await connectWebTransport({ port, caPem: testTls.caPem, openStream });
  const seen = () =>
    gateway.metrics.connectionsTotal.webtransport + gateway.metrics.rejected.max_connections +
    gateway.metrics.rejected.draining;
  await waitFor(() => seen() >= expected, 3_000, "the gateway to admit the session");
  if (!session) throw new Error(`The gateway refused the session with ${status}`);
  return session;
}

const harness: TransportHarness = {
  name: "webtransport",
  kind: "webtransport",
  config: (suite) => ({
    session: suite.session,
    protocol: suite.protocol,
    websocket: { enabled: false },
    quic: quicTestConfig("native", { max_connections: suite.maxConnections ?? 1000 }),
  }),
  connect: (gateway) => connectAdmitted(gateway, true),
  // Without its message stream the client sends nothing at all after the handshake.
  connectSilent: (gateway) => connectAdmitted(gateway, false),
};
runTransportTests(harness);
runAuthTests(harness);

/** A gateway with WebTransport on 127.0.0.1 (and `overrides`); dispose it. */
function startWebTransportGateway(
  overrides: GatewayConfigInput = {},
  router?: Router,
): RunningGateway {
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0, ...overrides.websocket },
      metrics: { enabled: false },
      quic: quicTestConfig("native", overrides.quic),
    }),
    { logger: new Logger("error"), router },
  );
}

async function open(
  gateway: RunningGateway,
  options: Partial<WebTransportClientOptions> = {},
) {
  return await connectWebTransport({
    port: await quicPort(gateway),
    caPem: testTls.caPem,
    ...options,
  });
}

async function openSession(
  gateway: RunningGateway,
  options: Partial<WebTransportClientOptions> = {},
): Promise<WebTransportTestSession> {
  const { status, session } = await open(gateway, options);
  assert.equal(status, 200);
  return session!;
}

/** Opens a session whose message stream the gateway has answered a ping on. */
async function openAnsweredSession(gateway: RunningGateway): Promise<WebTransportTestSession> {
  const session = await openSession(gateway);
  await session.send('{"type":"ping","id":1}');
  assert.equal(JSON.parse(await session.next()).type, "pong");
  return session;
}

Deno.test("webtransport: refuses a wrong path with 404 and a foreign Origin with 403", async () => {
  await using gateway = startWebTransportGateway({
    websocket: { allowed_origins: ["https://game.example"] },
  });
  assert.equal((await open(gateway, { path: "/ws" })).status, 404);
  assert.equal((await open(gateway, { origin: "https://evil.example" })).status, 403);
  assert.equal(gateway.metrics.rejected.origin_not_allowed, 1);
  // websocket.allowed_origins guards WebTransport too while its own list is unset.
  const allowed = await openSession(gateway, { origin: "https://game.example" });
  const native = await openSession(gateway); // No Origin: a native client.
  await waitFor(() => gateway.sessions.count("webtransport") === 2, 3_000, "both sessions");
  await allowed.close();
  await native.close();
});

Deno.test("webtransport: while draining, session requests get 503", async () => {
  // The test client does not end its side after a close capsule (a browser does at once), so
  // the gateway lingers on its session and the listener stays up while it drains.
  await using gateway = startWebTransportGateway({ quic: { close_linger_ms: 1_000 } });
  const lingering = await openSession(gateway);
  await waitFor(() => gateway.sessions.size === 1, 3_000, "the session");
  const stopping = gateway.shutdown(5_000);
  assert.equal((await open(gateway)).status, 503);
  assert.equal(gateway.metrics.rejected.draining, 1);
  assert.deepEqual(await within(lingering.closed, 3_000, "the close"), {
    code: 1001,
    reason: "going away",
  });
  await within(stopping, 5_000, "the shutdown");
  await lingering.released();
});

Deno.test("webtransport: quic.webtransport.allowed_origins replaces the WebSocket list", async () => {
  await using gateway = startWebTransportGateway({
    websocket: { allowed_origins: ["https://game.example"] },
    quic: { webtransport: { allowed_origins: ["https://other.example"] } },
  });
  assert.equal((await open(gateway, { origin: "https://game.example" })).status, 403);
  const session = await openSession(gateway, { origin: "https://other.example" });
  await session.close();
});

Deno.test("webtransport: a request that is not a WebTransport CONNECT gets 400", async () => {
  await using gateway = startWebTransportGateway();
  const port = await quicPort(gateway);
  const base = [[":method", "CONNECT"], [":scheme", "https"], [":authority", `127.0.0.1:${port}`], [
    ":path",
    "/wt",
  ]] as const;
  assert.equal((await open(gateway, { fields: [...base] })).status, 400); // No :protocol.
  assert.equal(
    (await open(gateway, { fields: [...base, [":protocol", "websocket"]] })).status,
    400,
  );
  assert.equal(gateway.sessions.size, 0);
});

/** A raw `h3` QUIC connection, and how the server closed it. */
async function rawH3(port: number, act: (conn: Deno.QuicConn) => Promise<void>) {
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  try {
    const conn = await Deno.connectQuic({
      endpoint,
      hostname: "127.0.0.1",
      port,
      alpnProtocols: ["h3"],
      caCerts: [testTls.caPem],
    });
    await act(conn);
    return await within(conn.closed, 5_000, "the server to close the connection");
  } finally {
    endpoint.close();
  }
}

Deno.test("webtransport: a client that sends no request is closed after handshake_timeout_ms", async () => {
  await using gateway = startWebTransportGateway({
    quic: { webtransport: { handshake_timeout_ms: 300 } },
  });
  const started = performance.now();
  const closed = await rawH3(await quicPort(gateway), async () => {});
  const elapsed = performance.now() - started;
  assert.equal(closed.closeCode, H3Error.requestCancelled);
  assert.ok(elapsed >= 250 && elapsed < 3_000, `closed after ${elapsed} ms`);
  await waitFor(() => gateway.metrics.rejected.bad_handshake === 1, 3_000, "the count");
});

Deno.test("webtransport: a client whose SETTINGS lack datagrams is refused with H3_SETTINGS_ERROR", async () => {
  await using gateway = startWebTransportGateway();
  const settings = new Map(BROWSER_SETTINGS);
  settings.delete(Setting.h3Datagram);
  settings.delete(Setting.h3DatagramDraft04);
  const error = await open(gateway, { settings }).then(() => undefined, (e: Error) => e);
  assert.ok(error, "the handshake should fail");
  await waitFor(() => gateway.metrics.rejected.bad_handshake === 1, 3_000, "the count");
  assert.equal(gateway.sessions.size, 0);
});

Deno.test("webtransport: a request over 16 KiB of fields is refused unread", async () => {
  await using gateway = startWebTransportGateway();
  const port = await quicPort(gateway);
  const closed = await rawH3(port, async (conn) => {
    const control = await conn.createUnidirectionalStream();
    const writer = control.getWriter();
    await writer.write(encodeVarint(0)); // The control stream, no SETTINGS yet.
    writer.releaseLock();
    const request = await conn.createBidirectionalStream();
    const requestWriter = request.writable.getWriter();
    // HEADERS, length 20,000: refused from the header, before any of it is read.
    await requestWriter.write(new Uint8Array([0x01, ...encodeVarint(20_000)]));
    requestWriter.releaseLock();
  });
  assert.equal(closed.closeCode, H3Error.messageError);
  await waitFor(() => gateway.metrics.rejected.bad_handshake === 1, 3_000, "the count");
});

Deno.test("webtransport: a malformed close capsule ends the session as a protocol error", async () => {
  await using gateway = startWebTransportGateway();
  const session = await openAnsweredSession(gateway);
  // A close capsule whose length (2,000) is past the 4 + 1,024 bytes a close may take.
  await session.sendConnectData(new Uint8Array([...encodeVarint(0x2843), ...encodeVarint(2_000)]));
  await within(session.released(), 3_000, "the connection to close");
  await waitFor(() => gateway.sessions.size === 0, 3_000, "the session to end");
});

Deno.test("webtransport: streams other than the message stream are refused", async () => {
  await using gateway = startWebTransportGateway();
  const session = await openSession(gateway, { openStream: false });
  // A stream naming another session (id 4), then one that is no WebTransport stream at all.
  assert.ok(await session.openStreamRefused(new Uint8Array([...encodeVarint(0x41), 4])));
  assert.ok(await session.openStreamRefused(new Uint8Array([0x21])));
  await session.close();
});

Deno.test("webtransport: the client's close capsule ends the session at once", async () => {
  await using gateway = startWebTransportGateway();
  const session = await openAnsweredSession(gateway);
  const started = performance.now();
  await session.close(1000, "bye");
  await waitFor(() => gateway.sessions.size === 0, 3_000, "the session to end");
  assert.ok(performance.now() - started < 1_000, "noticed within a second");
  assert.equal(gateway.metrics.disconnects.get("client_closed"), 1);
});

Deno.test("webtransport: a dropped connection ends the session at once", async () => {
  await using gateway = startWebTransportGateway();
  const session = await openAnsweredSession(gateway);
  await session.drop();
  await waitFor(() => gateway.sessions.size === 0, 1_000, "the session to end");
  assert.equal(gateway.metrics.disconnects.get("client_closed"), 1);
});

Deno.test("webtransport: the close code and reason arrive as a capsule, after the last envelopes", async () => {
  await using gateway = startWebTransportGateway();
  const session = await openAnsweredSession(gateway);
  const [gatewaySession] = gateway.sessions.values();
  for (let i = 0; i < 50; i++) {
    gatewaySession.transport.write(JSON.stringify({ type: "push", route: "n", data: i }));
  }
  gateway.sessions.close(gatewaySession, DisconnectHeartbeatTimeout);
  const closed = await within(session.closed, 3_000, "the close");
  assert.deepEqual(closed, { code: 4000, reason: "heartbeat timeout" });
  const received: number[] = [];
  for (
    let next = await session.next().catch(() => null);
    next;
    next = await session.next().catch(() => null)
  ) {
    received.push(JSON.parse(next).data);
  }
  assert.deepEqual(received, [...Array(50).keys()]);
  await session.released();
});

Deno.test("webtransport: datagrams carry envelopes both ways; unreliable pushes go as datagrams", async () => {
  await using gateway = startWebTransportGateway({}, new Router().addService(worldService));
  const session = await openSession(gateway);
  await session.send('{"type":"request","id":1,"route":"world.enter"}');
  assert.deepEqual(JSON.parse(await session.next()), {
    type: "response",
    id: 1,
    data: { ok: true },
  });
  // Datagrams may be lost even on loopback in principle: resend until one is answered.
  await within(
    (async () => {
      while (session.datagrams.length === 0 && gateway.metrics.datagramsReceived.webtransport < 5) {
        await session.sendDatagram('{"type":"request","id":2,"route":"world.move","data":{"x":1}}');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    3_000,
    "a datagram from the gateway",
  );
  await waitFor(() => session.datagrams.length >= 1, 3_000, "the position datagram");
  assert.deepEqual(JSON.parse(session.datagrams[0]), {
    type: "push",
    route: "world.position",
    data: { x: 1 },
  });
  assert.ok(gateway.metrics.datagramsReceived.webtransport >= 1);
  assert.ok(gateway.metrics.datagramsSent.webtransport >= 1);
  assert.equal(gateway.metrics.datagramsSent.quic, 0);
  await session.close();
});

Deno.test("webtransport: off with quic.webtransport.enabled false; mmo clients unaffected either way", async () => {
  await using gateway = startWebTransportGateway({ quic: { webtransport: { enabled: false } } });
  const error = await open(gateway).then(() => undefined, (e: Error) => e);
  assert.match(String(error), /peer doesn't support any known protocol|no application protocol/i);
  assert.equal(gateway.sessions.size, 0);
});

Deno.test("webtransport: Deno's own WebTransport client gets echoes and datagrams", async () => {
  await using gateway = startWebTransportGateway();
  const port = await quicPort(gateway);
  const hash = testTls.leafHash;
  const wt = new WebTransport(`https://127.0.0.1:${port}/wt`, {
    serverCertificateHashes: [{ algorithm: "sha-256", value: hash }],
  });
  const closed = wt.closed.then((info) => info, (error: Error) => error);
  await within(wt.ready, 3_000, "the session");
  const stream = await wt.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const text = '{"type":"request","id":1,"route":"echo","data":"deno"}';
  const body = new TextEncoder().encode(text);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  await writer.write(frame);
  const { value } = await within(reader.read(), 3_000, "the echo");
  assert.equal(
    new TextDecoder().decode(value!.subarray(4)),
    '{"type":"response","id":1,"data":"deno"}',
  );
  const datagrams = wt.datagrams.writable.getWriter();
  const incoming = wt.datagrams.readable.getReader();
  const [session] = gateway.sessions.values();
  await datagrams.write(new TextEncoder().encode('{"type":"notify","route":"echo"}'));
  await waitFor(() => gateway.metrics.datagramsReceived.webtransport >= 1, 3_000, "the datagram");
  assert.ok(session.transport.writeDatagram?.('{"type":"push","route":"p"}'));
  const datagram = await within(incoming.read(), 3_000, "a datagram");
  assert.equal(new TextDecoder().decode(datagram.value), '{"type":"push","route":"p"}');
  // Deno's client ignores close capsules and reports the QUIC close instead: H3_NO_ERROR.
  // The browser test shows the capsule's code reaching Chromium.
  gateway.sessions.close(session, DisconnectHeartbeatTimeout);
  const info = await within(closed, 3_000, "the close");
  if (info instanceof Error) throw info;
  assert.deepEqual({ ...info }, { closeCode: H3Error.noError, reason: "" });
  incoming.releaseLock();
  datagrams.releaseLock();
  reader.releaseLock();
  writer.releaseLock();
});

Deno.test("webtransport: mmo clients on the same listener get no use of the h3 stream limits", async () => {
  await using gateway = startWebTransportGateway();
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  try {
    const conn = await Deno.connectQuic({
      endpoint,
      hostname: "127.0.0.1",
      port: await quicPort(gateway),
      alpnProtocols: ["mmo"],
      caCerts: [testTls.caPem],
    });
    const stream = await conn.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(encodeEnvelopeFrame('{"type":"ping","id":1}'));
    const reader = stream.readable.getReader();
    assert.ok((await within(reader.read(), 3_000, "the pong")).value!.length > 4);
    // The listener allows h3 three unidirectional streams; the message protocol uses none, so
    // the gateway stops any (STOP_SENDING); a second bidirectional stream is stopped too.
    const extra = await conn.createUnidirectionalStream();
    assert.match(await writesUntilStopped(extra.getWriter()), /stopped by peer/);
    const second = await conn.createBidirectionalStream();
    assert.match(await writesUntilStopped(second.writable.getWriter()), /stopped by peer/);
    assert.equal(gateway.sessions.count("quic"), 1);
    conn.close({ closeCode: 1000, reason: "" });
    await conn.closed.catch(() => {});
    reader.releaseLock();
  } finally {
    endpoint.close();
  }
});

/** Writes to `writer` until a write fails (within 3 s); returns that failure's message. */
async function writesUntilStopped(writer: WritableStreamDefaultWriter<Uint8Array>) {
  const deadline = performance.now() + 3_000;
  while (performance.now() < deadline) {
    try {
      await writer.write(new Uint8Array([0, 0, 0, 1, 0x7b]));
    } catch (error) {
      return String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("Timed out after 3000 ms waiting for the stream to be stopped");
}

Deno.test("webtransport: the gateway's control stream outlives garbage collection", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--v8-flags=--expose-gc",
      "-P=test",
      new URL("../fixtures/webtransport_gc.ts", import.meta.url).pathname,
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, output);
  assert.match(output, /"controlStreamEnded":false/);
});

Deno.test("webtransport: concurrent session requests never exceed max_connections", async () => {
  await using gateway = startWebTransportGateway({ quic: { max_connections: 2 } });
  const results = await Promise.all(Array.from({ length: 6 }, () => open(gateway)));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503]);
  assert.equal(gateway.sessions.count("webtransport"), 2);
  assert.equal(gateway.metrics.rejected.max_connections, 4);
  await Promise.all(results.map((r) => r.session?.close()));
});
