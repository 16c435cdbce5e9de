/**
 * The gateway configuration's types, generated from the zod schema in `config.ts` by
 * `deno task gen-config`: do not edit by hand.
 *
 * @module
 */

/** The validated gateway configuration, with every default filled in. */
export interface GatewayConfig {
  /** The JSON Schema this file follows, for editors; ignored by the gateway. */
  $schema?: string;
  /** Sessions, heartbeats and resume. */
  session: SessionConfig;
  /** Limits of the message protocol, on every transport. */
  protocol: ProtocolConfig;
  /** Protection against clients that send too much, read too little or say nothing. */
  limits: LimitsConfig;
  /** Requests to services. */
  routing: RoutingConfig;
  /** Player authentication (docs/protocol.md#authentication). */
  auth: AuthConfig;
  /** Several gateway nodes and processes. */
  cluster: ClusterConfig;
  /** The WebSocket listener. */
  websocket: WebsocketConfig;
  /** The QUIC listener (docs/quic.md). */
  quic: QuicConfig;
  /** Prometheus metrics and health checks. */
  metrics: MetricsConfig;
  /** The admin API listener (docs/operations.md). */
  admin: AdminConfig;
  /** Graceful shutdown and drain. */
  shutdown: ShutdownConfig;
  /** Logs (JSON lines on stderr). */
  log: LogConfig;
}

/** The `session` section: Sessions, heartbeats and resume. */
export interface SessionConfig {
  /**
   * Close a session after this long with nothing received (4000). At least 2 s so a client on a
   * slow link has time to answer the ping sent at half the TTL.
   */
  heartbeat_ttl_sec: number;
  /**
   * How often idle sessions are swept; at most half of heartbeat_ttl_sec. The sweep is O(sessions),
   * so one per second is the floor.
   */
  check_interval_sec: number;
  /**
   * How often each idle session is pinged to measure its round-trip time
   * (`gateway_session_rtt_seconds`); 0 is off. The pings are spread over the interval, so 30 s
   * means about 630 small pings per second to 19,000 idle sessions (docs/operations.md).
   */
  rtt_probe_interval_sec: number;
  /**
   * Only a session sent nothing for this long is pinged: below rtt_probe_interval_sec, and short
   * next to a client's own heartbeat (the SDK's is 20 s), whose answers count as traffic.
   */
  rtt_probe_idle_sec: number;
  /**
   * How long a resumable session whose connection dropped waits, detached, for the client to resume
   * it (docs/protocol.md, Resume); 0 turns resume off (hello and resume are then unknown types). At
   * most an hour: a detached session holds its buffer and memberships.
   */
  resume_window_sec: number;
  /**
   * Most bytes of reliable messages a resumable session keeps for a replay (its latest ones while
   * connected; everything it is sent while detached, past which it ends). At most 512 KiB: a
   * takeover carries the buffer in one NATS message, whose default limit is 1 MiB, JSON-escaped.
   */
  resume_buffer_bytes: number;
  /**
   * Most messages a resumable session keeps for a replay, whatever their size: bounds the
   * per-message overhead of many tiny messages. At least 16 so a short drop can replay.
   */
  resume_buffer_messages: number;
}

/** The `protocol` section: Limits of the message protocol, on every transport. */
export interface ProtocolConfig {
  /**
   * Largest inbound message on every transport; larger closes the session (1009). At least 64 so an
   * envelope fits; at most 16 MiB because a message is buffered whole.
   */
  max_message_bytes: number;
  /** Malformed or unknown messages a session may send before it is closed (1008). */
  max_protocol_errors: number;
}

/**
 * The `limits` section: Protection against clients that send too much, read too little or say
 * nothing.
 */
export interface LimitsConfig {
  /**
   * Bytes queued to one session that its client has not read yet. Past half of it, unreliable
   * pushes to it are dropped; past all of it the session is closed with 4002 (slow consumer) and
   * its connection torn down. At least session.resume_buffer_bytes while resume is on: a resume
   * replays the whole buffer at once.
   */
  max_outbound_bytes: number;
  /**
   * Messages per second a session may send, refilled continuously (a token bucket); over it a
   * message gets `rate_limited` and is not routed. 0 turns the limit off.
   */
  messages_per_sec: number;
  /** Messages a session may send at once above messages_per_sec (the bucket's size). */
  burst: number;
  /**
   * Per-route buckets on top of the session's, e.g. `{"chat.say": {"per_sec": 5, "burst": 10}}`; a
   * route over its own limit gets `rate_limited` too.
   */
  routes: Record<string, LimitsRoutesEntryConfig>;
  /**
   * `rate_limited` answers a session may get within rate_violation_window_sec before it is closed
   * with 4504.
   */
  max_rate_violations: number;
  /** The window max_rate_violations counts in. */
  rate_violation_window_sec: number;
  /**
   * A TCP connection that has not completed its WebSocket upgrade, or a QUIC connection that has
   * opened no stream, this long after it arrived is closed, whatever it sent.
   */
  handshake_timeout_ms: number;
  /**
   * File descriptors kept for the gateway's own use (metrics scrapes, NATS, logs): new TCP
   * connections stop being accepted when fewer than this remain below the open-files limit, and
   * resume when some are freed. 0 turns it off.
   */
  fd_reserve: number;
}

/** An entry of `limits.routes`. */
export interface LimitsRoutesEntryConfig {
  /** Requests per second to this route. */
  per_sec: number;
  /** Requests allowed at once. */
  burst: number;
}

/** The `routing` section: Requests to services. */
export interface RoutingConfig {
  /**
   * A request unanswered this long gets `timeout`. A game client waiting longer than a minute for
   * one answer has given up anyway.
   */
  request_timeout_ms: number;
  /**
   * Run the bundled services (`chat`) inside the gateway. With NATS, turn this off and run them as
   * service processes.
   */
  embedded_services: boolean;
}

/** The `auth` section: Player authentication (docs/protocol.md#authentication). */
export interface AuthConfig {
  /**
   * none: any client that connects is a session (services may bind a user with setUser). jwt: the
   * first message must be an auth with a valid token (docs/protocol.md).
   */
  mode: "none" | "jwt";
  /** How player tokens are verified (auth.mode jwt). */
  jwt: AuthJwtConfig;
  /**
   * How long a new session may stay unauthenticated before it is closed (4501). At least one tick
   * of the deadline timer (100 ms); at most a minute, as idle sockets cost memory.
   */
  timeout_ms: number;
  /**
   * A second login of the same user, on any node: kick_old closes the older session (4502),
   * reject_new refuses the new one (4503), allow keeps both.
   */
  duplicate_login: "kick_old" | "reject_new" | "allow";
  /**
   * How long before the token runs out the session gets an auth.expiring push, so it can refresh in
   * time.
   */
  expiry_notice_sec: number;
  /**
   * reject_new over NATS: how long a login waits for other nodes to report a session of the same
   * user. Later answers are settled afterwards (the newer session closes with 4503). At least a LAN
   * round trip; at most 2 s, as a slower login feels broken.
   */
  duplicate_wait_ms: number;
}

/** The `auth.jwt` section: How player tokens are verified (auth.mode jwt). */
export interface AuthJwtConfig {
  /**
   * Name of the environment variable holding the HMAC secret (HS* tokens), at least 32 bytes; never
   * the secret itself, so config files can be shared.
   */
  hmac_secret_env?: string;
  /** PEM public key (BEGIN PUBLIC KEY) for RS*, PS*, ES* or EdDSA tokens. */
  public_key_file?: string;
  /** JSON Web Key Set file ({"keys":[...]}); tokens pick a key by their kid header. */
  jwks_file?: string;
  /**
   * Signature algorithms accepted; a token with any other (none included) is refused. Only those
   * that fit the key are used.
   */
  algorithms: (
    | "HS256"
    | "HS384"
    | "HS512"
    | "RS256"
    | "RS384"
    | "RS512"
    | "PS256"
    | "PS384"
    | "PS512"
    | "ES256"
    | "ES384"
    | "ES512"
    | "EdDSA"
  )[];
  /** Required iss claim, when set. */
  issuer?: string;
  /** Required aud claim, when set. */
  audience?: string;
  /** Clock skew tolerated on exp and nbf. At most 5 min: more keeps stolen tokens alive. */
  leeway_sec: number;
}

/** The `cluster` section: Several gateway nodes and processes. */
export interface ClusterConfig {
  /**
   * This gateway's id in the cluster; empty picks a random one at start. At most 60 characters:
   * `--workers` appends -w<index> to tell its workers apart.
   */
  node_id: string;
  /** NATS, for scale-out (docs/cluster.md). */
  nats: ClusterNatsConfig;
  /** The registry of gateway nodes, service processes and routes (docs/cluster.md). */
  registry: ClusterRegistryConfig;
  /**
   * Gateway processes on this machine sharing the ports (`--workers` overrides). One per core is
   * the useful maximum; 64 bounds typos.
   */
  workers: number;
  /**
   * How long the `--workers` supervisor waits for each worker to report ready before it gives up
   * and names the worker. At least 1 s, as a worker needs a few hundred ms to load; at most 10 min,
   * so a hung start is noticed.
   */
  worker_start_timeout_sec: number;
}

/** The `cluster.nats` section: NATS, for scale-out (docs/cluster.md). */
export interface ClusterNatsConfig {
  /** NATS server URLs, e.g. nats://127.0.0.1:4222. Empty: single-node (embedded) mode. */
  servers: string[];
  /** First token of every subject, so several clusters can share one NATS. */
  subject_prefix: string;
  /** Wait between reconnect attempts while NATS is down. */
  reconnect_wait_ms: number;
}

/**
 * The `cluster.registry` section: The registry of gateway nodes, service processes and routes
 * (docs/cluster.md).
 */
export interface ClusterRegistryConfig {
  /**
   * How often this gateway announces itself and checks the table for silent instances; also how
   * long after NATS (re)connects a route missing from the table gets service_unavailable rather
   * than unknown_route. At least 50 so a hundred instances stay a few thousand small messages per
   * second to each gateway.
   */
  announce_interval_ms: number;
  /**
   * An instance silent this long is dropped and its routes turn service_unavailable (within this
   * plus announce_interval_ms of its last announcement). At least twice announce_interval_ms, so
   * one lost announcement drops no one; a service process's --announce-interval-ms must be at most
   * half of it too.
   */
  instance_ttl_ms: number;
  /**
   * Gateway nodes and service processes held at once; announcements of further ones are refused and
   * counted. Bounds the memory a flood of fake instance ids can take.
   */
  max_instances: number;
  /**
   * Distinct service names held at once; each is a label value of gateway_service_instances, so
   * this bounds its cardinality.
   */
  max_services: number;
  /**
   * Distinct routes held at once. Routes no instance serves any more are forgotten, oldest first,
   * to make room; past that, announcements with new routes are refused and counted.
   */
  max_routes: number;
  /**
   * Largest announcement read; larger ones are refused unread. 64 KiB holds over 900 routes even
   * with 64-character names; at most 1 MiB, NATS's default max_payload.
   */
  max_announcement_bytes: number;
}

/** The `websocket` section: The WebSocket listener. */
export interface WebsocketConfig {
  /** Serve WebSocket. */
  enabled: boolean;
  /** Listen address. */
  host: string;
  /** Listen port; 0 picks a free one (logged at start). */
  port: number;
  /** The only path that upgrades; others get 404, a plain GET 426. */
  path: string;
  /**
   * Sessions this listener holds at once; past it upgrades get HTTP 503. Bounded by the per-process
   * open-files limit in practice.
   */
  max_connections: number;
  /**
   * Browser Origins allowed to upgrade (403 otherwise); empty allows any. Requests without an
   * Origin (native clients) are always allowed.
   */
  allowed_origins: string[];
  /**
   * `gateway`: the gateway's own RFC 6455 framing on a TCP listener, which refuses an oversized
   * message from its frame header, closes unfinished handshakes and sockets that stop reading.
   * `deno`: `Deno.upgradeWebSocket`, which buffers every message whole (up to 64 MiB a frame,
   * unbounded across fragments) before the gateway sees it; only behind a proxy that bounds
   * messages (docs/protocol.md, Limits).
   */
  engine: "gateway" | "deno";
}

/** The `quic` section: The QUIC listener (docs/quic.md). */
export interface QuicConfig {
  /**
   * Serve QUIC. Off by default: without cert files it writes a development CA to disk, which a
   * production node should not do unasked.
   */
  enabled: boolean;
  /** Listen address. */
  host: string;
  /** UDP listen port. */
  port: number;
  /**
   * Sessions this listener holds at once; past it a connection is closed at once (4001). QUIC needs
   * no file descriptor per connection, so only memory bounds it.
   */
  max_connections: number;
  /**
   * native (Deno's quinn) or matrixai (quiche). native measured 5x the round trips and 10x the
   * handshakes per second here, and has datagrams (docs/quic.md).
   */
  engine: "native" | "matrixai";
  /** ALPN protocol id clients must offer (RFC 7301). */
  alpn: string;
  /** Certificate chain (PEM, leaf first). Unset with key_file: a development CA is used. */
  cert_file?: string;
  /** The certificate's private key (PEM, PKCS#8). */
  key_file?: string;
  /**
   * Where the development CA is kept (ca.pem, ca-key.pem) when no cert files are set; clients trust
   * ca.pem from here.
   */
  dev_ca_dir: string;
  /**
   * A connection with no packets at all for this long is dropped. At least 1 s so a lossy mobile
   * link survives a few retransmissions; at most 10 min so dead peers are reaped.
   */
  idle_timeout_ms: number;
  /**
   * QUIC PING after this much silence, keeping NAT mappings and the idle timer alive; 0 is off.
   * Below idle_timeout_ms. Does not refresh the session: clients still send pings.
   */
  keep_alive_interval_ms: number;
  /** Accept and send QUIC datagrams (unreliable messages) where the engine supports them. */
  datagrams: boolean;
  /**
   * How long a closing connection waits for the client to read its last frames before the
   * CONNECTION_CLOSE. At most 5 s so shutdown stays bounded.
   */
  close_linger_ms: number;
  /** WebTransport on the QUIC listener (docs/quic.md). */
  webtransport: QuicWebtransportConfig;
}

/** The `quic.webtransport` section: WebTransport on the QUIC listener (docs/quic.md). */
export interface QuicWebtransportConfig {
  /**
   * Serve WebTransport (HTTP/3, ALPN h3) on the QUIC listener next to the message protocol, for
   * browsers; only while quic.enabled, and only on the native engine.
   */
  enabled: boolean;
  /** The only path that opens a session (https://host:quic.port/wt); others get 404. */
  path: string;
  /**
   * Browser Origins allowed to open sessions (403 otherwise); empty allows any. Unset:
   * websocket.allowed_origins, so one list guards both browser transports. Requests without an
   * Origin (native clients) are always allowed.
   */
  allowed_origins?: string[];
  /**
   * A connection that offered h3 but has not sent its SETTINGS and session request within this is
   * closed. At least 100 ms for slow links; at most a minute, since a silent client holds a
   * connection until then.
   */
  handshake_timeout_ms: number;
}

/** The `metrics` section: Prometheus metrics and health checks. */
export interface MetricsConfig {
  /** Serve metrics and health. */
  enabled: boolean;
  /** Listen address. */
  host: string;
  /** Listen port; must differ from websocket.port. */
  port: number;
  /** The Prometheus endpoint. */
  path: string;
}

/** The `admin` section: The admin API listener (docs/operations.md). */
export interface AdminConfig {
  /**
   * Serve the admin API (docs/operations.md, "Admin API"): list, inspect and kick sessions, push,
   * list nodes. Off by default: it can close any player's session.
   */
  enabled: boolean;
  /** Listen address. Without a token the listener starts only on a loopback address. */
  host: string;
  /** Listen port; must differ from websocket.port and metrics.port. */
  port: number;
  /**
   * Environment variable holding the bearer token (named `admin` in the log), at least 16
   * characters. Not a GATEWAY_ name: those set config fields.
   */
  token_env: string;
  /**
   * Environment variable holding further named tokens, `name:token,name:token`; the log names the
   * token that acted. Empty: none.
   */
  tokens_env: string;
  /**
   * Largest request body (a push); larger gets 413 unread. At most 1 MiB, NATS's default
   * max_payload, since a push may cross the cluster.
   */
  max_body_bytes: number;
  /**
   * How long a cluster-wide query waits for each node; a node slower than this is named in the
   * answer as unreachable. At least 50 ms, a NATS round trip with room to spare.
   */
  scatter_timeout_ms: number;
  /** Sessions per page when a request gives no limit; at most max_page_size. */
  page_size: number;
  /**
   * Largest limit a request may ask for. At most 1,000: a node's page must fit a NATS message (1
   * MiB by default), and a session takes up to ~1 KB with its groups.
   */
  max_page_size: number;
}

/** The `shutdown` section: Graceful shutdown and drain. */
export interface ShutdownConfig {
  /**
   * How long SIGINT/SIGTERM waits, once sessions are told to go, for their connections to close and
   * (in a cluster) for other nodes to take over detached sessions, before exiting anyway.
   */
  grace_sec: number;
  /**
   * On SIGINT/SIGTERM, how long /readyz answers 503 while the node still serves everyone, so load
   * balancers stop sending new players before sessions are told to go. Set it to the balancer's
   * probe period times its failure threshold (e.g. 10 on Kubernetes); 0 for development.
   */
  prestop_sec: number;
  /**
   * Sessions told to go (4004 resume elsewhere, or 1001) per close_interval_ms, so their reconnects
   * reach the other nodes spread out rather than as one burst.
   */
  close_batch: number;
  /** Pause between close batches, ms; 0 closes every session at once. */
  close_interval_ms: number;
}

/** The `log` section: Logs (JSON lines on stderr). */
export interface LogConfig {
  /** Log threshold; debug logs every session open and close and every protocol error. */
  level: "debug" | "info" | "warn" | "error";
}

/** Makes every field of `T`, and of the objects it holds, optional. */
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[] ? T[K]
    : T[K] extends object ? DeepPartial<T[K]>
    : T[K];
};

/** A config as written in a file: any subset of the fields; the rest take their defaults. */
export type GatewayConfigInput = DeepPartial<GatewayConfig>;
