/**
 * Gateway configuration: the zod schema is the single source of truth for every field, its
 * default, its bounds and their reasons. The types, the JSON Schema for editors and the
 * reference table in docs/operations.md are generated from it (`deno task gen-config`), and the
 * schema is typed against the generated types, so they cannot drift apart.
 *
 * @module
 */
import { z } from "zod";
import type { GatewayConfig, GatewayConfigInput } from "./config_types.ts";

export type { GatewayConfig, GatewayConfigInput };

/** The config file used when neither `--config` nor `GATEWAY_CONFIG` names one. */
export const DEFAULT_CONFIG_PATH = "config/gateway.json";

/** Environment variable that overrides the config path (the `--config` flag wins over it). */
export const CONFIG_PATH_ENV = "GATEWAY_CONFIG";

/** Names of the QUIC engines (`quic.engine`), see `src/transport/quic_engine.ts`. */
export type QuicEngineName = "native" | "matrixai";

/** Every QUIC engine, for config validation and tests. */
export const QUIC_ENGINES: readonly QuicEngineName[] = ["native", "matrixai"];

/**
 * Names of the WebSocket engines (`websocket.engine`): `gateway` frames on `Deno.listen` with
 * bounds checked from each frame header (`src/transport/websocket/`); `deno` is
 * `Deno.serve` + `Deno.upgradeWebSocket`, which buffers a whole message before checking it.
 */
export type WebSocketEngineName = "gateway" | "deno";

/** Every WebSocket engine, for config validation and tests. */
export const WEBSOCKET_ENGINES: readonly WebSocketEngineName[] = ["gateway", "deno"];

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);
const urlPath = z.string().regex(/^\/[^\s?#]*$/, "must start with / and hold no spaces, ? or #");

const sessionSchema = z.strictObject({
  heartbeat_ttl_sec: z.number().int().min(2).max(86_400).default(60).describe(
    "Close a session after this long with nothing received (4000). At least 2 s so a client on " +
      "a slow link has time to answer the ping sent at half the TTL.",
  ),
  check_interval_sec: z.number().int().min(1).max(3_600).default(10).describe(
    "How often idle sessions are swept; at most half of heartbeat_ttl_sec. The sweep is " +
      "O(sessions), so one per second is the floor.",
  ),
  rtt_probe_interval_sec: z.number().int().min(0).max(3_600).default(30).describe(
    "How often each idle session is pinged to measure its round-trip time " +
      "(`gateway_session_rtt_seconds`); 0 is off. The pings are spread over the interval, so " +
      "30 s means about 630 small pings per second to 19,000 idle sessions (docs/operations.md).",
  ),
  rtt_probe_idle_sec: z.number().int().min(1).max(3_599).default(5).describe(
    "Only a session sent nothing for this long is pinged: below rtt_probe_interval_sec, and " +
      "short next to a client's own heartbeat (the SDK's is 20 s), whose answers count as " +
      "traffic.",
  ),
  resume_window_sec: z.number().int().min(0).max(3_600).default(30).describe(
    "How long a resumable session whose connection dropped waits, detached, for the client to " +
      "resume it (docs/protocol.md, Resume); 0 turns resume off (hello and resume are then " +
      "unknown types). At most an hour: a detached session holds its buffer and memberships.",
  ),
  resume_buffer_bytes: z.number().int().min(1_024).max(512 * 1024).default(256 * 1024)
    .describe(
      "Most bytes of reliable messages a resumable session keeps for a replay (its latest " +
        "ones while connected; everything it is sent while detached, past which it ends). At " +
        "most 512 KiB: a takeover carries the buffer in one NATS message, whose default limit " +
        "is 1 MiB, JSON-escaped.",
    ),
  resume_buffer_messages: z.number().int().min(16).max(65_536).default(1_024).describe(
    "Most messages a resumable session keeps for a replay, whatever their size: bounds the " +
      "per-message overhead of many tiny messages. At least 16 so a short drop can replay.",
  ),
}).describe("Sessions, heartbeats and resume.");

const websocketSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Serve WebSocket."),
  host: host.default("0.0.0.0").describe("Listen address."),
  port: port.default(8081).describe("Listen port; 0 picks a free one (logged at start)."),
  path: urlPath.default("/ws").describe(
    "The only path that upgrades; others get 404, a plain GET 426.",
  ),
  max_connections: z.number().int().min(1).max(1_000_000).default(1000).describe(
    "Sessions this listener holds at once; past it upgrades get HTTP 503. Bounded by the " +
      "per-process open-files limit in practice.",
  ),
  allowed_origins: z.array(z.string().min(1)).default([]).describe(
    "Browser Origins allowed to upgrade (403 otherwise); empty allows any. Requests without " +
      "an Origin (native clients) are always allowed.",
  ),
  engine: z.enum(WEBSOCKET_ENGINES as [WebSocketEngineName, ...WebSocketEngineName[]])
    .default("gateway").describe(
      "`gateway`: the gateway's own RFC 6455 framing on a TCP listener, which refuses an " +
        "oversized message from its frame header, closes unfinished handshakes and sockets " +
        "that stop reading. `deno`: `Deno.upgradeWebSocket`, which buffers every message " +
        "whole (up to 64 MiB a frame, unbounded across fragments) before the gateway sees it; " +
        "only behind a proxy that bounds messages (docs/protocol.md, Limits).",
    ),
}).describe("The WebSocket listener.");

const protocolSchema = z.strictObject({
  max_message_bytes: z.number().int().min(64).max(16 * 1024 * 1024).default(64 * 1024)
    .describe(
      "Largest inbound message on every transport; larger closes the session (1009). At least " +
        "64 so an envelope fits; at most 16 MiB because a message is buffered whole.",
    ),
  max_protocol_errors: z.number().int().min(1).max(1_000_000).default(10).describe(
    "Malformed or unknown messages a session may send before it is closed (1008).",
  ),
}).describe("Limits of the message protocol, on every transport.");

const routeLimitSchema = z.strictObject({
  per_sec: z.number().min(0.01).max(100_000).describe("Requests per second to this route."),
  burst: z.number().int().min(1).max(1_000_000).describe("Requests allowed at once."),
});

const limitsSchema = z.strictObject({
  max_outbound_bytes: z.number().int().min(16 * 1024).max(64 * 1024 * 1024).default(1024 * 1024)
    .describe(
      "Bytes queued to one session that its client has not read yet. Past half of it, " +
        "unreliable pushes to it are dropped; past all of it the session is closed with 4002 " +
        "(slow consumer) and its connection torn down. At least session.resume_buffer_bytes " +
        "while resume is on: a resume replays the whole buffer at once.",
    ),
  messages_per_sec: z.number().min(0).max(100_000).default(200).describe(
    "Messages per second a session may send, refilled continuously (a token bucket); over it " +
      "a message gets `rate_limited` and is not routed. 0 turns the limit off.",
  ),
  burst: z.number().int().min(1).max(1_000_000).default(400).describe(
    "Messages a session may send at once above messages_per_sec (the bucket's size).",
  ),
  routes: z.record(z.string().min(1), routeLimitSchema).default({}).describe(
    'Per-route buckets on top of the session\'s, e.g. `{"chat.say": {"per_sec": 5, ' +
      '"burst": 10}}`; a route over its own limit gets `rate_limited` too.',
  ),
  max_rate_violations: z.number().int().min(1).max(1_000_000).default(50).describe(
    "`rate_limited` answers a session may get within rate_violation_window_sec before it is " +
      "closed with 4504.",
  ),
  rate_violation_window_sec: z.number().int().min(1).max(3_600).default(10).describe(
    "The window max_rate_violations counts in.",
  ),
  handshake_timeout_ms: z.number().int().min(100).max(120_000).default(10_000).describe(
    "A TCP connection that has not completed its WebSocket upgrade, or a QUIC connection " +
      "that has opened no stream, this long after it arrived is closed, whatever it sent.",
  ),
  fd_reserve: z.number().int().min(0).max(10_000).default(64).describe(
    "File descriptors kept for the gateway's own use (metrics scrapes, NATS, logs): new TCP " +
      "connections stop being accepted when fewer than this remain below the open-files " +
      "limit, and resume when some are freed. 0 turns it off.",
  ),
}).describe("Protection against clients that send too much, read too little or say nothing.");

const routingSchema = z.strictObject({
  request_timeout_ms: z.number().int().min(1).max(60_000).default(5_000).describe(
    "A request unanswered this long gets `timeout`. A game client waiting longer than a " +
      "minute for one answer has given up anyway.",
  ),
  embedded_services: z.boolean().default(true).describe(
    "Run the bundled services (`chat`) inside the gateway. With NATS, turn this off and run " +
      "them as service processes.",
  ),
}).describe("Requests to services.");

/** JWT signature algorithms the gateway can verify (`auth.jwt.algorithms`). */
export const JWT_ALGORITHMS = [
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

/** One of {@linkcode JWT_ALGORITHMS}. */
export type JwtAlgorithm = typeof JWT_ALGORITHMS[number];

const jwtSchema = z.strictObject({
  hmac_secret_env: z.string().regex(
    /^(?!GATEWAY_)[A-Za-z_][A-Za-z0-9_]{0,127}$/,
    "must be an environment variable name not starting with GATEWAY_ (those set config fields)",
  )
    .optional().describe(
      "Name of the environment variable holding the HMAC secret (HS* tokens), at least 32 " +
        "bytes; never the secret itself, so config files can be shared.",
    ),
  public_key_file: z.string().min(1).optional().describe(
    "PEM public key (BEGIN PUBLIC KEY) for RS*, PS*, ES* or EdDSA tokens.",
  ),
  jwks_file: z.string().min(1).optional().describe(
    'JSON Web Key Set file ({"keys":[...]}); tokens pick a key by their kid header.',
  ),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).max(JWT_ALGORITHMS.length)
    .default(["HS256", "RS256", "ES256", "EdDSA"]).describe(
      "Signature algorithms accepted; a token with any other (none included) is refused. Only " +
        "those that fit the key are used.",
    ),
  issuer: z.string().min(1).optional().describe("Required iss claim, when set."),
  audience: z.string().min(1).optional().describe("Required aud claim, when set."),
  leeway_sec: z.number().int().min(0).max(300).default(5).describe(
    "Clock skew tolerated on exp and nbf. At most 5 min: more keeps stolen tokens alive.",
  ),
}).describe("How player tokens are verified (auth.mode jwt).");

const authSchema = z.strictObject({
  mode: z.enum(["none", "jwt"]).default("none").describe(
    "none: any client that connects is a session (services may bind a user with setUser). " +
      "jwt: the first message must be an auth with a valid token (docs/protocol.md).",
  ),
  jwt: jwtSchema.prefault({}),
  timeout_ms: z.number().int().min(100).max(60_000).default(5_000).describe(
    "How long a new session may stay unauthenticated before it is closed (4501). At least one " +
      "tick of the deadline timer (100 ms); at most a minute, as idle sockets cost memory.",
  ),
  duplicate_login: z.enum(["kick_old", "reject_new", "allow"]).default("kick_old").describe(
    "A second login of the same user, on any node: kick_old closes the older session (4502), " +
      "reject_new refuses the new one (4503), allow keeps both.",
  ),
  expiry_notice_sec: z.number().int().min(1).max(3_600).default(30).describe(
    "How long before the token runs out the session gets an auth.expiring push, so it can " +
      "refresh in time.",
  ),
  duplicate_wait_ms: z.number().int().min(5).max(2_000).default(50).describe(
    "reject_new over NATS: how long a login waits for other nodes to report a session of the " +
      "same user. Later answers are settled afterwards (the newer session closes with 4503). " +
      "At least a LAN round trip; at most 2 s, as a slower login feels broken.",
  ),
}).describe("Player authentication (docs/protocol.md#authentication).").superRefine((auth, ctx) => {
  if (auth.mode !== "jwt") return;
  const { jwt } = auth;
  const keys = (["hmac_secret_env", "public_key_file", "jwks_file"] as const).filter((key) =>
    jwt[key] !== undefined
  );
  if (keys.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["jwt", "hmac_secret_env"],
      message: "mode jwt needs a key: set one of hmac_secret_env, public_key_file or jwks_file",
    });
    return;
  }
  if (keys.length > 1) {
    ctx.addIssue({
      code: "custom",
      path: ["jwt", keys[1]],
      message: `set only one key source; ${keys[0]} is set too`,
    });
    return;
  }
  const hmac = keys[0] === "hmac_secret_env";
  if (!jwt.algorithms.some((alg) => alg.startsWith("HS") === hmac)) {
    ctx.addIssue({
      code: "custom",
      path: ["jwt", "algorithms"],
      message: hmac
        ? "lists no HS* algorithm, the only kind hmac_secret_env verifies"
        : `lists only HS* algorithms, which ${keys[0]} cannot verify`,
    });
  }
});

const natsSchema = z.strictObject({
  servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s]+$/, "must be a nats:// or tls:// URL"))
    .default([]).describe(
      "NATS server URLs, e.g. nats://127.0.0.1:4222. Empty: single-node (embedded) mode.",
    ),
  subject_prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 letters, digits, _ or -")
    .default("mmo").describe(
      "First token of every subject, so several clusters can share one NATS.",
    ),
  reconnect_wait_ms: z.number().int().min(10).max(60_000).default(500).describe(
    "Wait between reconnect attempts while NATS is down.",
  ),
}).describe("NATS, for scale-out (docs/cluster.md).");

const registrySchema = z.strictObject({
  announce_interval_ms: z.number().int().min(50).max(60_000).default(1_000).describe(
    "How often this gateway announces itself and checks the table for silent instances; " +
      "also how long after NATS (re)connects a route missing from the table gets " +
      "service_unavailable rather than unknown_route. At least 50 so a hundred instances stay " +
      "a few thousand small messages per second to each gateway.",
  ),
  instance_ttl_ms: z.number().int().min(100).max(600_000).default(3_000).describe(
    "An instance silent this long is dropped and its routes turn service_unavailable (within " +
      "this plus announce_interval_ms of its last announcement). At least twice " +
      "announce_interval_ms, so one lost announcement drops no one; a service process's " +
      "--announce-interval-ms must be at most half of it too.",
  ),
  max_instances: z.number().int().min(1).max(100_000).default(1_000).describe(
    "Gateway nodes and service processes held at once; announcements of further ones are " +
      "refused and counted. Bounds the memory a flood of fake instance ids can take.",
  ),
  max_services: z.number().int().min(1).max(10_000).default(256).describe(
    "Distinct service names held at once; each is a label value of " +
      "gateway_service_instances, so this bounds its cardinality.",
  ),
  max_routes: z.number().int().min(1).max(1_000_000).default(4_096).describe(
    "Distinct routes held at once. Routes no instance serves any more are forgotten, oldest " +
      "first, to make room; past that, announcements with new routes are refused and counted.",
  ),
  max_announcement_bytes: z.number().int().min(1_024).max(1_048_576).default(65_536).describe(
    "Largest announcement read; larger ones are refused unread. 64 KiB holds over 900 " +
      "routes even with 64-character names; at most 1 MiB, NATS's default max_payload.",
  ),
}).describe("The registry of gateway nodes, service processes and routes (docs/cluster.md).")
  .superRefine((registry, ctx) => {
    if (registry.announce_interval_ms * 2 > registry.instance_ttl_ms) {
      ctx.addIssue({
        code: "custom",
        path: ["announce_interval_ms"],
        message:
          `must be at most half of cluster.registry.instance_ttl_ms (${registry.instance_ttl_ms})`,
      });
    }
  });

const clusterSchema = z.strictObject({
  node_id: z.string().regex(/^[A-Za-z0-9_-]{0,60}$/, "must be letters, digits, _ or -")
    .default("").describe(
      "This gateway's id in the cluster; empty picks a random one at start. At most 60 " +
        "characters: `--workers` appends -w<index> to tell its workers apart.",
    ),
  nats: natsSchema.prefault({}),
  registry: registrySchema.prefault({}),
  workers: z.number().int().min(1).max(64).default(1).describe(
    "Gateway processes on this machine sharing the ports (`--workers` overrides). One per " +
      "core is the useful maximum; 64 bounds typos.",
  ),
  worker_start_timeout_sec: z.number().int().min(1).max(600).default(30).describe(
    "How long the `--workers` supervisor waits for each worker to report ready before it " +
      "gives up and names the worker. At least 1 s, as a worker needs a few hundred ms to " +
      "load; at most 10 min, so a hung start is noticed.",
  ),
}).describe("Several gateway nodes and processes.");

const webtransportSchema = z.strictObject({
  enabled: z.boolean().default(true).describe(
    "Serve WebTransport (HTTP/3, ALPN h3) on the QUIC listener next to the message protocol, " +
      "for browsers; only while quic.enabled, and only on the native engine.",
  ),
  path: urlPath.default("/wt").describe(
    "The only path that opens a session (https://host:quic.port/wt); others get 404.",
  ),
  allowed_origins: z.array(z.string().min(1)).optional().describe(
    "Browser Origins allowed to open sessions (403 otherwise); empty allows any. Unset: " +
      "websocket.allowed_origins, so one list guards both browser transports. Requests " +
      "without an Origin (native clients) are always allowed.",
  ),
  handshake_timeout_ms: z.number().int().min(100).max(60_000).default(10_000).describe(
    "A connection that offered h3 but has not sent its SETTINGS and session request within " +
      "this is closed. At least 100 ms for slow links; at most a minute, since a silent " +
      "client holds a connection until then.",
  ),
}).describe("WebTransport on the QUIC listener (docs/quic.md).");

const quicSchema = z.strictObject({
  enabled: z.boolean().default(false).describe(
    "Serve QUIC. Off by default: without cert files it writes a development CA to disk, which " +
      "a production node should not do unasked.",
  ),
  host: host.default("0.0.0.0").describe("Listen address."),
  port: port.default(8082).describe("UDP listen port."),
  max_connections: z.number().int().min(1).max(1_000_000).default(1000).describe(
    "Sessions this listener holds at once; past it a connection is closed at once (4001). QUIC " +
      "needs no file descriptor per connection, so only memory bounds it.",
  ),
  engine: z.enum(QUIC_ENGINES as [QuicEngineName, ...QuicEngineName[]]).default("native")
    .describe(
      "native (Deno's quinn) or matrixai (quiche). native measured 5x the round trips and 10x " +
        "the handshakes per second here, and has datagrams (docs/quic.md).",
    ),
  alpn: z.string().regex(/^[\x21-\x7e]{1,255}$/, "must be 1-255 printable ASCII characters")
    .default("mmo").describe("ALPN protocol id clients must offer (RFC 7301)."),
  cert_file: z.string().min(1).optional().describe(
    "Certificate chain (PEM, leaf first). Unset with key_file: a development CA is used.",
  ),
  key_file: z.string().min(1).optional().describe("The certificate's private key (PEM, PKCS#8)."),
  dev_ca_dir: z.string().min(1).default(".dev-certs").describe(
    "Where the development CA is kept (ca.pem, ca-key.pem) when no cert files are set; clients " +
      "trust ca.pem from here.",
  ),
  idle_timeout_ms: z.number().int().min(1_000).max(600_000).default(30_000).describe(
    "A connection with no packets at all for this long is dropped. At least 1 s so a lossy " +
      "mobile link survives a few retransmissions; at most 10 min so dead peers are reaped.",
  ),
  keep_alive_interval_ms: z.number().int().min(0).max(300_000).default(10_000).describe(
    "QUIC PING after this much silence, keeping NAT mappings and the idle timer alive; 0 is " +
      "off. Below idle_timeout_ms. Does not refresh the session: clients still send pings.",
  ),
  datagrams: z.boolean().default(true).describe(
    "Accept and send QUIC datagrams (unreliable messages) where the engine supports them.",
  ),
  close_linger_ms: z.number().int().min(0).max(5_000).default(250).describe(
    "How long a closing connection waits for the client to read its last frames before the " +
      "CONNECTION_CLOSE. At most 5 s so shutdown stays bounded.",
  ),
  webtransport: webtransportSchema.prefault({}),
}).describe("The QUIC listener (docs/quic.md).").superRefine((quic, ctx) => {
  if (quic.webtransport.enabled && quic.alpn === "h3") {
    ctx.addIssue({
      code: "custom",
      path: ["alpn"],
      message: "must not be h3 while quic.webtransport.enabled: WebTransport uses h3",
    });
  }
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
  enabled: z.boolean().default(true).describe("Serve metrics and health."),
  host: host.default("0.0.0.0").describe("Listen address."),
  port: port.default(9090).describe("Listen port; must differ from websocket.port."),
  path: urlPath.default("/metrics").describe("The Prometheus endpoint."),
}).describe("Prometheus metrics and health checks.");

/**
 * An environment variable name (or, with `optional`, empty for none), not one the config
 * itself reads: `GATEWAY_*` variables set config fields.
 */
function envName(optional: boolean) {
  return z.string().regex(
    optional ? /^([A-Za-z_][A-Za-z0-9_]{0,127})?$/ : /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
    "must be an environment variable name: letters, digits and _, not starting with a digit",
  ).refine(
    (name) => !name.toUpperCase().startsWith("GATEWAY_"),
    "must not start with GATEWAY_: such variables set config fields",
  );
}

const adminSchema = z.strictObject({
  enabled: z.boolean().default(false).describe(
    'Serve the admin API (docs/operations.md, "Admin API"): list, inspect and kick sessions, ' +
      "push, list nodes. Off by default: it can close any player's session.",
  ),
  host: host.default("127.0.0.1").describe(
    "Listen address. Without a token the listener starts only on a loopback address.",
  ),
  port: port.default(9091).describe(
    "Listen port; must differ from websocket.port and metrics.port.",
  ),
  token_env: envName(false).default("MMO_ADMIN_TOKEN").describe(
    "Environment variable holding the bearer token (named `admin` in the log), at least 16 " +
      "characters. Not a GATEWAY_ name: those set config fields.",
  ),
  tokens_env: envName(true).default("").describe(
    "Environment variable holding further named tokens, `name:token,name:token`; the log " +
      "names the token that acted. Empty: none.",
  ),
  max_body_bytes: z.number().int().min(1_024).max(1_048_576).default(65_536).describe(
    "Largest request body (a push); larger gets 413 unread. At most 1 MiB, NATS's default " +
      "max_payload, since a push may cross the cluster.",
  ),
  scatter_timeout_ms: z.number().int().min(50).max(60_000).default(2_000).describe(
    "How long a cluster-wide query waits for each node; a node slower than this is named in " +
      "the answer as unreachable. At least 50 ms, a NATS round trip with room to spare.",
  ),
  page_size: z.number().int().min(1).max(1_000).default(100).describe(
    "Sessions per page when a request gives no limit; at most max_page_size.",
  ),
  max_page_size: z.number().int().min(1).max(1_000).default(1_000).describe(
    "Largest limit a request may ask for. At most 1,000: a node's page must fit a NATS " +
      "message (1 MiB by default), and a session takes up to ~1 KB with its groups.",
  ),
}).describe("The admin API listener (docs/operations.md).").superRefine((admin, ctx) => {
  if (admin.page_size > admin.max_page_size) {
    ctx.addIssue({
      code: "custom",
      path: ["page_size"],
      message: `must be at most admin.max_page_size (${admin.max_page_size})`,
    });
  }
});

const shutdownSchema = z.strictObject({
  grace_sec: z.number().min(0).max(600).default(10).describe(
    "How long SIGINT/SIGTERM waits, once sessions are told to go, for their connections to " +
      "close and (in a cluster) for other nodes to take over detached sessions, before " +
      "exiting anyway.",
  ),
  prestop_sec: z.number().min(0).max(300).default(0).describe(
    "On SIGINT/SIGTERM, how long /readyz answers 503 while the node still serves everyone, so " +
      "load balancers stop sending new players before sessions are told to go. Set it to the " +
      "balancer's probe period times its failure threshold (e.g. 10 on Kubernetes); 0 for " +
      "development.",
  ),
  close_batch: z.number().int().min(1).max(100_000).default(500).describe(
    "Sessions told to go (4004 resume elsewhere, or 1001) per close_interval_ms, so their " +
      "reconnects reach the other nodes spread out rather than as one burst.",
  ),
  close_interval_ms: z.number().int().min(0).max(10_000).default(100).describe(
    "Pause between close batches, ms; 0 closes every session at once.",
  ),
}).describe("Graceful shutdown and drain.");

const logSchema = z.strictObject({
  level: z.enum(["debug", "info", "warn", "error"]).default("info").describe(
    "Log threshold; debug logs every session open and close and every protocol error.",
  ),
}).describe("Logs (JSON lines on stderr).");

/**
 * Schema of the whole config file; every field has a default, so `{}` is a valid file. The
 * public types (`config_types.ts`), `config/gateway.schema.json` and the config reference in
 * docs/operations.md are generated from it (`deno task gen-config`).
 */
export const gatewayConfigSchema: z.ZodType<GatewayConfig, GatewayConfigInput> = z.strictObject({
  $schema: z.string().optional().describe(
    "The JSON Schema this file follows, for editors; ignored by the gateway.",
  ),
  session: sessionSchema.prefault({}),
  protocol: protocolSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  routing: routingSchema.prefault({}),
  auth: authSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
  websocket: websocketSchema.prefault({}),
  quic: quicSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  admin: adminSchema.prefault({}),
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
  const { rtt_probe_interval_sec: rttInterval, rtt_probe_idle_sec: rttIdle } = config.session;
  if (rttInterval > 0 && rttIdle >= rttInterval) {
    ctx.addIssue({
      code: "custom",
      path: ["session", "rtt_probe_idle_sec"],
      message: `must be below session.rtt_probe_interval_sec (${rttInterval})`,
    });
  }
  // A resume replays the whole buffer at once, unchecked: a limit below it could close the
  // resumed session as a slow consumer before its client has read the replay.
  const { resume_window_sec: resumeWindow, resume_buffer_bytes: resumeBytes } = config.session;
  if (resumeWindow > 0 && config.limits.max_outbound_bytes < resumeBytes) {
    ctx.addIssue({
      code: "custom",
      path: ["limits", "max_outbound_bytes"],
      message: `must be at least session.resume_buffer_bytes (${resumeBytes}) while resume is on`,
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
  const admin = config.admin;
  if (admin.enabled && admin.port !== 0) {
    for (const [name, other] of [["websocket", ws], ["metrics", metrics]] as const) {
      if (other.enabled && other.port === admin.port) {
        ctx.addIssue({
          code: "custom",
          path: ["admin", "port"],
          message: `must differ from ${name}.port (${other.port})`,
        });
      }
    }
  }
});

/**
 * Deno's own WebSocket idle timeout for a heartbeat config. Deno pings a silent client after
 * half of it and closes with 1001 after all of it; one second past the sweeper's latest
 * possible close keeps our 4000 `heartbeat timeout` first, while the ping still goes out
 * before the TTL, so a client that answers pings stays alive.
 */
export function websocketIdleTimeoutSec(
  session: Pick<GatewayConfig["session"], "heartbeat_ttl_sec" | "check_interval_sec">,
): number {
  return session.heartbeat_ttl_sec + session.check_interval_sec + 1;
}

/** Options for {@linkcode ConfigError}. */
export interface ConfigErrorOptions extends ErrorOptions {
  /**
   * The environment variable the bad value came from (see `config_env.ts`); the message then
   * names it instead of the file.
   */
  variable?: string;
}

/**
 * A config file or environment variable that cannot be read or does not validate; the message
 * names the file (or the variable) and the field.
 */
export class ConfigError extends Error {
  /** The environment variable at fault, when the bad value came from one. */
  readonly variable: string | undefined;

  /** Creates a config error for `file`, or for `options.variable` when set. */
  constructor(readonly file: string, message: string, options?: ConfigErrorOptions) {
    super(
      options?.variable === undefined
        ? `Invalid config ${file}: ${message}`
        : `Invalid environment ${options.variable}: ${message}`,
      options,
    );
    this.name = "ConfigError";
    this.variable = options?.variable;
  }
}

/** One thing wrong with a config: where, and what. */
export interface ConfigProblem {
  /** Path of the field, e.g. `["websocket", "port"]`; empty for the config as a whole. */
  readonly path: readonly PropertyKey[];
  /** What is wrong, e.g. `Too big: expected number to be <=65535`. */
  readonly message: string;
}

/** The result of {@linkcode checkConfig}: the config, or every problem with it. */
export type ConfigCheck =
  | { readonly config: GatewayConfig; readonly problems?: undefined }
  | { readonly config?: undefined; readonly problems: readonly ConfigProblem[] };

/** Validates a parsed config object and fills in defaults, or lists every problem. */
export function checkConfig(input: unknown): ConfigCheck {
  const result = gatewayConfigSchema.safeParse(input);
  if (result.success) return { config: result.data };
  return {
    problems: result.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({ path: [...issue.path, key], message: "unknown key" }))
        : [{ path: issue.path, message: issue.message }]
    ),
  };
}

/** A problem as one phrase, its field path first: `websocket.port: Too big: ...`. */
export function describeProblem(problem: ConfigProblem): string {
  const path = problem.path.length > 0 ? problem.path.map(String).join(".") : "(top level)";
  return `${path}: ${problem.message}`;
}

/**
 * Checks what depends on how many gateway processes run on this machine (`--workers`, else
 * `cluster.workers`): workers are separate nodes, so they share logins only through NATS.
 *
 * @throws {ConfigError} when one login per user is asked for across workers without NATS.
 */
export function checkWorkers(config: GatewayConfig, workers: number, file: string): void {
  const { auth } = config;
  if (
    workers > 1 && auth.mode === "jwt" && auth.duplicate_login !== "allow" &&
    config.cluster.nats.servers.length === 0
  ) {
    throw new ConfigError(
      file,
      `auth.duplicate_login: "${auth.duplicate_login}" with ${workers} workers needs ` +
        "cluster.nats.servers, as workers share logins through NATS (or set " +
        'auth.duplicate_login to "allow")',
    );
  }
}

/**
 * Validates a parsed config object and fills in defaults.
 *
 * @throws {ConfigError} listing every failing field by its dotted path.
 */
export function parseConfig(input: unknown, file = "<inline>"): GatewayConfig {
  const { config, problems } = checkConfig(input);
  if (config) return config;
  throw new ConfigError(file, problems.map(describeProblem).join("; "));
}

/**
 * Reads a config file as JSON, unvalidated. A missing file is an error only when `required`;
 * otherwise the input is `{}`, which the built-in defaults fill.
 *
 * @throws {ConfigError} when the file is unreadable or not JSON.
 */
export async function readConfigFile(
  file: string,
  required: boolean,
): Promise<{ input: unknown; fromFile: boolean }> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !required) return { input: {}, fromFile: false };
    throw new ConfigError(file, `cannot read file: ${(error as Error).message}`, { cause: error });
  }
  try {
    return { input: JSON.parse(text), fromFile: true };
  } catch (error) {
    throw new ConfigError(file, `malformed JSON: ${(error as Error).message}`, { cause: error });
  }
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
  const { input, fromFile } = await readConfigFile(file, required);
  return { config: parseConfig(input, file), fromFile };
}
