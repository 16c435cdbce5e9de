/**
 * QUIC test plumbing: one set of TLS files for the whole test process, a suite harness per
 * engine, and raw engine connections for framing tests.
 */
import type { RunningGateway } from "../src/app.ts";
import { connectQuic } from "../src/transport/quic_client.ts";
import { loadQuicEngine } from "../src/transport/quic_engines.ts";
import { createDevTls } from "../src/transport/tls_certs.ts";
import type { QuicCloseInfo, QuicEngineConnection } from "../src/transport/quic_engine.ts";
import type { QuicEngineName } from "../src/config/config.ts";
import { waitFor, within } from "./_helpers.ts";
import {
  type CloseInfo,
  MessageQueue,
  type SuiteConfig,
  type TestClient,
  type TransportHarness,
} from "./_transport_suite.ts";

/** A development CA and leaf written once per test process, removed at exit. */
export const testTls = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "quic-test-" });
  const tls = await createDevTls(`${dir}/ca`);
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  await Deno.writeTextFile(certFile, tls.certPem);
  await Deno.writeTextFile(keyFile, tls.keyPem);
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  /** The leaf's SHA-256, for WebTransport `serverCertificateHashes`. */
  const leafHash = Uint8Array.from(atob(tls.certificateHash), (c) => c.charCodeAt(0));
  return { dir, certFile, keyFile, caPem: tls.caPem, leafHash };
})();

/** The `quic` config section for tests: 127.0.0.1, port 0, the test certificate. */
export function quicTestConfig(engine: QuicEngineName, overrides: Record<string, unknown> = {}) {
  return {
    enabled: true,
    host: "127.0.0.1",
    port: 0,
    engine,
    cert_file: testTls.certFile,
    key_file: testTls.keyFile,
    close_linger_ms: 100,
    ...overrides,
  };
}

/** The gateway's QUIC port, once it is listening. */
export async function quicPort(gateway: RunningGateway): Promise<number> {
  await gateway.ready;
  const addr = gateway.quicAddr;
  if (!addr) throw new Error("The gateway has no QUIC listener");
  return addr.port;
}

/** Connects a protocol client on `engine` and wraps it for the shared suite. */
export async function quicTestClient(
  port: number,
  engine: QuicEngineName,
): Promise<TestClient & { sendDatagram(text: string): Promise<void> }> {
  const connection = await connectQuic({
    hostname: "127.0.0.1",
    port,
    caCerts: [testTls.caPem],
    engine,
  });
  const messages = new MessageQueue();
  connection.onMessage = (text) => messages.push(text);
  const closed: Promise<CloseInfo> = connection.closed.then((info) => {
    messages.end();
    return info;
  });
  return {
    send: (text) => connection.send(text),
    sendDatagram: (text) => connection.sendDatagram(text),
    next: (timeoutMs) => messages.next(timeoutMs),
    closed,
    close: async () => {
      await within(connection.close(), 3_000, "the client close");
    },
  };
}

const issued = new WeakMap<RunningGateway, number>();

/**
 * Connects and waits until the gateway has admitted or refused the connection: a QUIC client
 * finishes its handshake half a round trip before the server does, so without this a test
 * could act before the session exists.
 */
async function connectAdmitted(gateway: RunningGateway, engine: QuicEngineName) {
  const port = await quicPort(gateway);
  const expected = (issued.get(gateway) ?? 0) + 1;
  issued.set(gateway, expected);
  const client = await quicTestClient(port, engine);
  const seen = () =>
    gateway.metrics.connectionsTotal.quic + gateway.metrics.rejected.max_connections +
    gateway.metrics.rejected.draining;
  await waitFor(() => seen() >= expected, 3_000, "the gateway to admit the connection");
  return client;
}

/** The shared-suite harness for a gateway on `server` with clients on `client`. */
export function quicHarness(
  name: string,
  server: QuicEngineName,
  client: QuicEngineName = server,
): TransportHarness {
  return {
    name,
    kind: "quic",
    config: (suite: SuiteConfig) => ({
      session: suite.session,
      protocol: suite.protocol,
      websocket: { enabled: false },
      quic: quicTestConfig(server, { max_connections: suite.maxConnections ?? 1000 }),
    }),
    connect: (gateway) => connectAdmitted(gateway, client),
    // The protocol client sends nothing until asked to; QUIC keep-alives never reach the
    // session, so an idle protocol client is the silent one.
    connectSilent: (gateway) => connectAdmitted(gateway, client),
  };
}

/** A raw engine connection that records what arrives, for framing tests. */
export async function rawQuicConnection(port: number, engine: QuicEngineName): Promise<{
  connection: QuicEngineConnection;
  received: Uint8Array[];
  closed: Promise<QuicCloseInfo>;
}> {
  const quic = await loadQuicEngine(engine);
  const received: Uint8Array[] = [];
  const closed = Promise.withResolvers<QuicCloseInfo>();
  const connection = await quic.connect({
    hostname: "127.0.0.1",
    port,
    alpn: "mmo",
    caCerts: [testTls.caPem],
    idleTimeoutMs: 10_000,
    keepAliveIntervalMs: 0,
    handler: {
      onStreamData: (chunk) => received.push(chunk.slice()),
      onStreamEnd: () => {},
      onDatagram: () => {},
      onClosed: (info) => closed.resolve(info),
    },
  });
  return { connection, received, closed: closed.promise };
}
