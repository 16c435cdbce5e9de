/**
 * Gateway configuration: the zod schema is the single source of truth for every field, its
 * default and its bounds; the `GatewayConfig` type is inferred from it.
 *
 * @module
 */
import { z } from "zod";

/** The config file used when neither `--config` nor `GATEWAY_CONFIG` names one. */
export const DEFAULT_CONFIG_PATH = "config/gateway.json";

/** Environment variable that overrides the config path (the `--config` flag wins over it). */
export const CONFIG_PATH_ENV = "GATEWAY_CONFIG";

/** Names of the QUIC engines (`quic.engine`), see `src/transport/quic_engine.ts`. */
export type QuicEngineName = "native" | "matrixai";

/** Every QUIC engine, for config validation and tests. */
export const QUIC_ENGINES: readonly QuicEngineName[] = ["native", "matrixai"];

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

const sessionSchema = z.strictObject({
  /** Seconds without an inbound frame before a session is closed (4000). At least 2 s so a
   * client on a slow link has time to answer the ping sent at half the TTL. */
  heartbeat_ttl_sec: z.number().int().min(2).max(86_400).default(60),
  /** Seconds between sweeps. The sweep is O(sessions), so one per second is the floor. */
  check_interval_sec: z.number().int().min(1).max(3_600).default(10),
});

const websocketSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: host.default("0.0.0.0"),
  port: port.default(8081),
  /** The only path that upgrades; it must start with `/`. */
  path: z.string().regex(/^\/[^\s?#]*$/, "must start with / and hold no spaces, ? or #")
    .default("/ws"),
  /** Sessions this listener holds at once; past it an upgrade gets 503. Bounded by the
   * per-process open-files limit in practice, and at a million by the schema. */
  max_connections: z.number().int().min(1).max(1_000_000).default(1000),
  /** Browser origins allowed to upgrade; empty allows any (native clients send none). */
  allowed_origins: z.array(z.string().min(1)).default([]),
});

const protocolSchema = z.strictObject({
  /** Largest inbound message in bytes, on every transport; larger closes the session with
   * 1009. At least 64 so an envelope fits; at most 16 MiB because a message is buffered whole. */
  max_message_bytes: z.number().int().min(64).max(16 * 1024 * 1024).default(64 * 1024),
  /** Malformed or unknown messages a session may send before it is closed with 1008. */
  max_protocol_errors: z.number().int().min(1).max(1_000_000).default(10),
});

const routingSchema = z.strictObject({
  /** How long a request may wait for its service before the client gets `timeout`. A game
   * client waiting longer than a minute for one answer has given up anyway. */
  request_timeout_ms: z.number().int().min(1).max(60_000).default(5_000),
  /** Run the bundled services (`chat`) inside the gateway. With NATS, turn this off and run
   * them as service processes; routes the gateway does not serve itself go over NATS. */
  embedded_services: z.boolean().default(true),
});

const natsSchema = z.strictObject({
  /** NATS server URLs, e.g. `nats://127.0.0.1:4222`. Empty: single-node (embedded) mode. */
  servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s]+$/, "must be a nats:// or tls:// URL"))
    .default([]),
  /** First token of every subject, so several clusters can share one NATS. */
  subject_prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 letters, digits, _ or -")
    .default("mmo"),
  /** Wait between reconnect attempts while NATS is down. */
  reconnect_wait_ms: z.number().int().min(10).max(60_000).default(500),
});

const clusterSchema = z.strictObject({
  /** This gateway's id in the cluster; empty picks a random one at start. */
  node_id: z.string().regex(/^[A-Za-z0-9_-]{0,64}$/, "must be letters, digits, _ or -")
    .default(""),
  nats: natsSchema.prefault({}),
  /** Gateway processes on this machine sharing the listen port (`--workers` overrides). One
   * per core is the useful maximum; 64 bounds typos. */
  workers: z.number().int().min(1).max(64).default(1),
});

const quicSchema = z.strictObject({
  /** Off by default: it needs `--unstable-net`, and without cert files it writes a development
   * CA to disk, which a production node should not do unasked. */
  enabled: z.boolean().default(false),
  host: host.default("0.0.0.0"),
  /** UDP port. */
  port: port.default(8082),
  /** Sessions this listener holds at once; past it a connection is closed at once with 4001.
   * QUIC needs no file descriptor per connection, so only memory bounds it in practice. */
  max_connections: z.number().int().min(1).max(1_000_000).default(1000),
  /** `native` (Deno's quinn) or `matrixai` (quiche). native is the default: it measured 5x the
   * round trips and 10x the handshakes per second here, and has datagrams (docs/quic.md). */
  engine: z.enum(QUIC_ENGINES as [QuicEngineName, ...QuicEngineName[]]).default("native"),
  /** ALPN protocol id clients must offer; 1–255 bytes of printable ASCII (RFC 7301). */
  alpn: z.string().regex(/^[\x21-\x7e]{1,255}$/, "must be 1-255 printable ASCII characters")
    .default("mmo"),
  /** Certificate chain (PEM, leaf first). Unset with `key_file`: a development CA is used. */
  cert_file: z.string().min(1).optional(),
  /** The certificate's private key (PEM, PKCS#8). */
  key_file: z.string().min(1).optional(),
  /** Where the development CA is kept (`ca.pem`, `ca-key.pem`) when no cert files are set;
   * clients trust `ca.pem` from here. */
  dev_ca_dir: z.string().min(1).default(".dev-certs"),
  /** A connection with no packets at all for this long is dropped. At least 1 s so a lossy
   * mobile link survives a few retransmissions; at most 10 min so dead peers are reaped. */
  idle_timeout_ms: z.number().int().min(1_000).max(600_000).default(30_000),
  /** QUIC PING after this much silence, keeping NAT mappings and the idle timer alive; 0 is
   * off. Must be below idle_timeout_ms. QUIC keep-alives do not refresh the session: clients
   * still send `ping` envelopes within the heartbeat TTL. */
  keep_alive_interval_ms: z.number().int().min(0).max(300_000).default(10_000),
  /** Accept and send QUIC datagrams (unreliable messages) where the engine supports them. */
  datagrams: z.boolean().default(true),
  /** How long a closing connection waits for the client to read its last frames before the
   * CONNECTION_CLOSE (which discards unread data). At most 5 s so shutdown stays bounded. */
  close_linger_ms: z.number().int().min(0).max(5_000).default(250),
}).superRefine((quic, ctx) => {
  if ((quic.cert_file === undefined) !== (quic.key_file === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [quic.cert_file === undefined ? "cert_file" : "key_file"],
      message: "cert_file and key_file must be set together",
    });
  }
  if (quic.keep_alive_interval_ms >= quic.idle_timeout_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["keep_alive_interval_ms"],
      message: `must be below quic.idle_timeout_ms (${quic.idle_timeout_ms})`,
    });
  }
});

const metricsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: host.default("0.0.0.0"),
  port: port.default(9090),
  path: z.string().regex(/^\/[^\s?#]*$/, "must start with / and hold no spaces, ? or #")
    .default("/metrics"),
});

const shutdownSchema = z.strictObject({
  /** Seconds SIGINT/SIGTERM waits for sessions to close before exiting anyway. */
  grace_sec: z.number().min(0).max(600).default(10),
});

const logSchema = z.strictObject({
  level: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** Schema of the whole config file; every field has a default, so `{}` is a valid file. */
export const gatewayConfigSchema = z.strictObject({
  session: sessionSchema.prefault({}),
  protocol: protocolSchema.prefault({}),
  routing: routingSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
  websocket: websocketSchema.prefault({}),
  quic: quicSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  shutdown: shutdownSchema.prefault({}),
  log: logSchema.prefault({}),
}).superRefine((config, ctx) => {
  // At most half the TTL: the WebSocket ping goes out at (TTL + interval + 1) / 2 of silence
  // (see websocketIdleTimeoutSec), and a client that only answers pings must be pinged, and
  // its pong back, well before the TTL runs out.
  if (config.session.check_interval_sec * 2 > config.session.heartbeat_ttl_sec) {
    ctx.addIssue({
      code: "custom",
      path: ["session", "check_interval_sec"],
      message:
        `must be at most half of session.heartbeat_ttl_sec (${config.session.heartbeat_ttl_sec})`,
    });
  }
  const ws = config.websocket, metrics = config.metrics;
  if (ws.enabled && metrics.enabled && ws.port !== 0 && ws.port === metrics.port) {
    ctx.addIssue({
      code: "custom",
      path: ["metrics", "port"],
      message: `must differ from websocket.port (${ws.port})`,
    });
  }
});

/**
 * Deno's own WebSocket idle timeout for a heartbeat config. Deno pings a silent client after
 * half of it and closes with 1001 after all of it; one second past the sweeper's latest
 * possible close keeps our 4000 `heartbeat timeout` first, while the ping still goes out
 * before the TTL, so a client that answers pings stays alive.
 */
export function websocketIdleTimeoutSec(session: GatewayConfig["session"]): number {
  return session.heartbeat_ttl_sec + session.check_interval_sec + 1;
}

/** The validated gateway configuration, with every default filled in. */
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

/** Input accepted by {@linkcode parseConfig}: any subset of the fields. */
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;

/** A config file that cannot be read or does not validate; the message names file and field. */
export class ConfigError extends Error {
  /** Creates a config error for `file`. */
  constructor(readonly file: string, message: string, options?: ErrorOptions) {
    super(`Invalid config ${file}: ${message}`, options);
    this.name = "ConfigError";
  }
}

/**
 * Validates a parsed config object and fills in defaults.
 *
 * @throws {ConfigError} listing every failing field by its dotted path.
 */
export function parseConfig(input: unknown, file = "<inline>"): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${[...issue.path, key].join(".")}: unknown key`).join("; ");
    }
    const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    return `${path}: ${issue.message}`;
  });
  throw new ConfigError(file, problems.join("; "));
}

/**
 * Reads and validates a config file. A missing file is an error only when `required`;
 * otherwise the built-in defaults are returned.
 *
 * @throws {ConfigError} when the file is unreadable, not JSON, or fails validation.
 */
export async function loadConfig(
  file: string,
  required: boolean,
): Promise<{ config: GatewayConfig; fromFile: boolean }> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !required) {
      return { config: parseConfig({}, file), fromFile: false };
    }
    throw new ConfigError(file, `cannot read file: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, `malformed JSON: ${(error as Error).message}`, { cause: error });
  }
  return { config: parseConfig(json, file), fromFile: true };
}
