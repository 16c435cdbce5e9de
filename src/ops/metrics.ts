/**
 * Gateway metrics. Counters are plain numbers bumped by event handlers; everything is turned
 * into Prometheus text only when scraped, so counting costs the hot path an addition.
 *
 * @module
 */
import type { Disconnect, DisconnectLabel } from "../core/disconnect.ts";
import { Histogram } from "./histogram.ts";
import { renderProcessMetrics } from "./process_metrics.ts";
import type { ErrorCode } from "../core/protocol.ts";
import { SESSION_BUCKET_LABEL } from "../core/rate_limiter.ts";
import type { Session } from "../core/session.ts";
import type { SessionEvents } from "../core/session_manager.ts";
import {
  AUTH_RESULTS,
  type AuthEvents,
  type AuthResult,
  type FrameEvents,
  type LimitEvents,
  type ListenerEvents,
  OUTBOUND_DROP_REASONS,
  type OutboundDropReason,
  REJECT_REASONS,
  type RejectReason,
  RESUME_RESULTS,
  type ResumeEvents,
  type ResumeResult,
} from "../core/events.ts";
import { TRANSPORT_KINDS, type TransportKind } from "../core/transport.ts";

/** Cluster state as metrics and `/health` read it (cluster mode only). */
export interface ClusterState {
  /** This node's id. */
  readonly nodeId: string;
  /** Whether NATS is reachable now. */
  readonly natsConnected: boolean;
  /** Times NATS came back after an outage. */
  readonly natsReconnects: number;
  /** Pushes delivered to this node only because NATS was down. */
  readonly localOnlyPushes: number;
  /** The cluster registry's table. */
  readonly registry: RegistryState;
}

/**
 * The cluster registry as the scrape reads it. Its service names are label values: they come
 * only from announcements the registry validated, and it holds a bounded number of them.
 */
export interface RegistryState {
  /** Live service processes per known service name. */
  serviceInstances(): Iterable<[string, number]>;
  /** Live instances per kind (`gateway`, `service`), this node included. */
  instanceCounts(): Readonly<Record<string, number>>;
  /** Known routes. */
  readonly routeCount: number;
  /** Announcements refused since start, per reason (a fixed set). */
  readonly rejected: Readonly<Record<string, number>>;
}

/** What the scrape reads from the rest of the gateway at scrape time. */
export interface ScrapeState {
  /** Live sessions on one transport. */
  count(kind: TransportKind): number;
  /** All sessions, detached ones included. */
  readonly size: number;
  /** Sessions detached and waiting to be resumed. */
  readonly detached?: number;
  /** Cluster state, in cluster mode. */
  readonly cluster?: ClusterState;
}

/** Upper bounds, in seconds, of the message-handling histogram: 50 µs to 1 s. */
export const HANDLING_BUCKETS_SEC = [
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
];

/**
 * Upper bounds, in seconds, of the round-trip-time histogram: 1 ms (a client next door) to
 * 5 s (a congested mobile link); game traffic cares most about 20–200 ms.
 */
export const RTT_BUCKETS_SEC = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.02,
  0.035,
  0.05,
  0.075,
  0.1,
  0.15,
  0.2,
  0.3,
  0.5,
  1,
  2,
  5,
];

function perKind(): Record<TransportKind, number> {
  return { websocket: 0, quic: 0, webtransport: 0 };
}

/** All gateway counters, fed by events and rendered as Prometheus text. */
export class GatewayMetrics
  implements SessionEvents, FrameEvents, ListenerEvents, AuthEvents, ResumeEvents, LimitEvents {
  /** Sessions opened since start, per transport. */
  readonly connectionsTotal = perKind();
  /** Frames received, per transport. */
  readonly messagesReceived = perKind();
  /** Frames sent, per transport. */
  readonly messagesSent = perKind();
  /** Datagrams received, per transport (QUIC only; counted apart from frames). */
  readonly datagramsReceived = perKind();
  /** Datagrams sent, per transport. */
  readonly datagramsSent = perKind();
  /** Bytes received over all transports. */
  bytesReceived = 0;
  /** Bytes sent over all transports. */
  bytesSent = 0;
  /** Sessions closed by the heartbeat sweeper. */
  heartbeatTimeouts = 0;
  /** Connections refused, per reason. */
  readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
    RejectReason,
    number
  >;
  /** Authentication outcomes, per result. */
  readonly auth = Object.fromEntries(AUTH_RESULTS.map((r) => [r, 0])) as Record<
    AuthResult,
    number
  >;
  /** Resume outcomes, per result. */
  readonly resumes = Object.fromEntries(RESUME_RESULTS.map((r) => [r, 0])) as Record<
    ResumeResult,
    number
  >;
  /** Messages sent again by resumes. */
  replayedMessages = 0;
  /** Sessions ended, per reason. */
  readonly disconnects = new Map<DisconnectLabel, number>();
  /** Error replies sent, per error code. */
  readonly errorReplies = new Map<ErrorCode, number>();
  /** Accept-loop failures, per listener. */
  readonly listenerFailures = new Map<string, number>();
  /** Listener restarts after failures, per listener. */
  readonly listenerRestarts = new Map<string, number>();
  /** Time to handle one message. */
  readonly handling = new Histogram(HANDLING_BUCKETS_SEC);
  /** Measured session round-trip times, per transport. */
  readonly rtt = Object.fromEntries(
    TRANSPORT_KINDS.map((kind) => [kind, new Histogram(RTT_BUCKETS_SEC)]),
  ) as Record<TransportKind, Histogram>;
  /** Outbound messages not sent to slow consumers, per reason. */
  readonly outboundDropped = Object.fromEntries(
    OUTBOUND_DROP_REASONS.map((r) => [r, 0]),
  ) as Record<OutboundDropReason, number>;
  /**
   * Messages answered `rate_limited`, per what refused them (a `limits.routes` route or
   * `session`); `session` is listed even at zero.
   */
  readonly rateLimited = new Map<string, number>([[SESSION_BUCKET_LABEL, 0]]);
  /** Exceptions caught by the last-resort handlers. */
  uncaughtErrors = 0;
  /** Duration of the latest heartbeat sweep, in seconds. */
  lastSweepSeconds = 0;

  /** Counts a new session. */
  onSessionOpened = (session: Session): void => {
    this.connectionsTotal[session.kind]++;
  };

  /** Counts an ended session by reason. */
  onSessionClosed = (_session: Session, disconnect: Disconnect): void => {
    this.disconnects.set(disconnect.label, (this.disconnects.get(disconnect.label) ?? 0) + 1);
    if (disconnect.label === "heartbeat_timeout") this.heartbeatTimeouts++;
  };

  /** Counts an inbound frame. */
  onFrameReceived = (kind: TransportKind, bytes: number): void => {
    this.messagesReceived[kind]++;
    this.bytesReceived += bytes;
  };

  /** Counts an outbound frame. */
  onFrameSent = (kind: TransportKind, bytes: number): void => {
    this.messagesSent[kind]++;
    this.bytesSent += bytes;
  };

  /** Counts an inbound datagram. */
  onDatagramReceived = (kind: TransportKind, bytes: number): void => {
    this.datagramsReceived[kind]++;
    this.bytesReceived += bytes;
  };

  /** Counts an outbound datagram. */
  onDatagramSent = (kind: TransportKind, bytes: number): void => {
    this.datagramsSent[kind]++;
    this.bytesSent += bytes;
  };

  /** Counts an error reply. */
  onErrorReplied = (code: ErrorCode): void => {
    this.errorReplies.set(code, (this.errorReplies.get(code) ?? 0) + 1);
  };

  /** Records handling latency. */
  onMessageHandled = (seconds: number): void => {
    this.handling.observe(seconds);
  };

  /** Records a session's round-trip time. */
  onRttMeasured = (kind: TransportKind, seconds: number): void => {
    this.rtt[kind].observe(seconds);
  };

  /** Counts an outbound message dropped for a slow consumer. */
  onOutboundDropped = (reason: OutboundDropReason): void => {
    this.outboundDropped[reason]++;
  };

  /** Counts a message refused by a rate limit. */
  onRateLimited = (route: string): void => {
    this.rateLimited.set(route, (this.rateLimited.get(route) ?? 0) + 1);
  };

  /** Counts a refused connection. */
  onConnectionRejected = (reason: RejectReason): void => {
    this.rejected[reason]++;
  };

  /** Counts an authentication outcome. */
  onAuth = (result: AuthResult): void => {
    this.auth[result]++;
  };

  /** Counts a resume outcome. */
  onResume = (result: ResumeResult): void => {
    this.resumes[result]++;
  };

  /** Counts replayed messages. */
  onReplayed = (messages: number): void => {
    this.replayedMessages += messages;
  };

  /** Counts an accept-loop failure. */
  onListenerFailed = (listener: string): void => {
    this.listenerFailures.set(listener, (this.listenerFailures.get(listener) ?? 0) + 1);
  };

  /** Counts a listener restart. */
  onListenerRestarted = (listener: string): void => {
    this.listenerRestarts.set(listener, (this.listenerRestarts.get(listener) ?? 0) + 1);
  };

  /** Counts an exception no code awaited (see `last_resort.ts`). */
  onUncaughtError = (): void => {
    this.uncaughtErrors++;
  };

  /** Records a heartbeat sweep's duration. */
  onSweep = (_closed: number, durationMs: number): void => {
    this.lastSweepSeconds = durationMs / 1000;
  };

  /** Renders every metric in Prometheus text exposition format 0.0.4. */
  render(state: ScrapeState, eventLoopLag: { latestMs: number; maxMs: number }): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const byKind = (name: string, values: (kind: TransportKind) => number) => {
      for (const kind of TRANSPORT_KINDS) {
        lines.push(`${name}{transport="${kind}"} ${values(kind)}`);
      }
    };
    const byLabel = (name: string, label: string, values: Iterable<[string, number]>) => {
      for (const [value, n] of values) lines.push(`${name}{${label}="${value}"} ${n}`);
    };

    metric("gateway_connections_active", "gauge", "Open connections per transport.");
    byKind("gateway_connections_active", (k) => state.count(k));
    metric(
      "gateway_sessions_active",
      "gauge",
      "Sessions over all transports, detached ones included.",
    );
    lines.push(`gateway_sessions_active ${state.size}`);
    metric(
      "gateway_sessions_detached",
      "gauge",
      "Sessions whose connection is gone, waiting to be resumed.",
    );
    lines.push(`gateway_sessions_detached ${state.detached ?? 0}`);
    metric("gateway_resumes_total", "counter", "Resume attempts, by result.");
    byLabel("gateway_resumes_total", "result", Object.entries(this.resumes));
    metric("gateway_replayed_messages_total", "counter", "Messages sent again by resumes.");
    lines.push(`gateway_replayed_messages_total ${this.replayedMessages}`);
    metric("gateway_connections_total", "counter", "Sessions opened since start.");
    byKind("gateway_connections_total", (k) => this.connectionsTotal[k]);
    metric(
      "gateway_connections_rejected_total",
      "counter",
      "Connections refused before becoming a session.",
    );
    byLabel("gateway_connections_rejected_total", "reason", Object.entries(this.rejected));
    metric("gateway_auth_total", "counter", "Authentication outcomes, by result.");
    byLabel("gateway_auth_total", "result", Object.entries(this.auth));
    metric("gateway_disconnects_total", "counter", "Sessions ended, by reason.");
    byLabel("gateway_disconnects_total", "reason", this.disconnects);
    metric("gateway_messages_received_total", "counter", "Frames received.");
    byKind("gateway_messages_received_total", (k) => this.messagesReceived[k]);
    metric("gateway_messages_sent_total", "counter", "Frames sent.");
    byKind("gateway_messages_sent_total", (k) => this.messagesSent[k]);
    metric("gateway_datagrams_received_total", "counter", "Datagrams received (QUIC).");
    byKind("gateway_datagrams_received_total", (k) => this.datagramsReceived[k]);
    metric("gateway_datagrams_sent_total", "counter", "Datagrams sent (QUIC).");
    byKind("gateway_datagrams_sent_total", (k) => this.datagramsSent[k]);
    metric("gateway_bytes_received_total", "counter", "Payload bytes received.");
    lines.push(`gateway_bytes_received_total ${this.bytesReceived}`);
    metric("gateway_bytes_sent_total", "counter", "Payload bytes sent.");
    lines.push(`gateway_bytes_sent_total ${this.bytesSent}`);
    metric("gateway_error_replies_total", "counter", "Error replies sent, by code.");
    byLabel("gateway_error_replies_total", "code", this.errorReplies);
    metric(
      "gateway_outbound_dropped_total",
      "counter",
      "Outbound messages not sent to slow consumers, by reason.",
    );
    byLabel("gateway_outbound_dropped_total", "reason", Object.entries(this.outboundDropped));
    metric(
      "gateway_rate_limited_total",
      "counter",
      "Inbound messages answered rate_limited, by the limited route or session.",
    );
    byLabel("gateway_rate_limited_total", "route", this.rateLimited);
    metric("gateway_uncaught_errors_total", "counter", "Exceptions caught as a last resort.");
    lines.push(`gateway_uncaught_errors_total ${this.uncaughtErrors}`);
    metric("gateway_heartbeat_timeouts_total", "counter", "Sessions closed for silence.");
    lines.push(`gateway_heartbeat_timeouts_total ${this.heartbeatTimeouts}`);
    metric("gateway_heartbeat_sweep_seconds", "gauge", "Duration of the latest sweep.");
    lines.push(`gateway_heartbeat_sweep_seconds ${this.lastSweepSeconds}`);
    metric("gateway_listener_failures_total", "counter", "Accept loops that died (e.g. EMFILE).");
    byLabel("gateway_listener_failures_total", "listener", this.listenerFailures);
    metric("gateway_listener_restarts_total", "counter", "Listeners restarted after a failure.");
    byLabel("gateway_listener_restarts_total", "listener", this.listenerRestarts);
    metric("gateway_message_handling_seconds", "histogram", "Time to handle one message.");
    lines.push(this.handling.render("gateway_message_handling_seconds").trimEnd());
    metric(
      "gateway_session_rtt_seconds",
      "histogram",
      "Round-trip time of sessions, measured by pinging idle ones.",
    );
    for (const kind of TRANSPORT_KINDS) {
      lines.push(
        this.rtt[kind].render("gateway_session_rtt_seconds", `transport="${kind}"`).trimEnd(),
      );
    }

    if (state.cluster) {
      metric("gateway_nats_connected", "gauge", "1 while NATS is reachable (cluster mode).");
      lines.push(`gateway_nats_connected ${state.cluster.natsConnected ? 1 : 0}`);
      metric("gateway_nats_reconnects_total", "counter", "Times NATS came back after an outage.");
      lines.push(`gateway_nats_reconnects_total ${state.cluster.natsReconnects}`);
      metric(
        "gateway_pushes_local_only_total",
        "counter",
        "Pushes delivered to this node only because NATS was down.",
      );
      lines.push(`gateway_pushes_local_only_total ${state.cluster.localOnlyPushes}`);
      const registry = state.cluster.registry;
      metric(
        "gateway_service_instances",
        "gauge",
        "Live service processes serving each announced service over NATS.",
      );
      byLabel("gateway_service_instances", "service", registry.serviceInstances());
      metric(
        "gateway_cluster_instances",
        "gauge",
        "Live instances in the cluster registry, by kind (this node included).",
      );
      byLabel("gateway_cluster_instances", "kind", Object.entries(registry.instanceCounts()));
      metric("gateway_cluster_routes", "gauge", "Routes the cluster registry knows.");
      lines.push(`gateway_cluster_routes ${registry.routeCount}`);
      metric(
        "gateway_registry_rejected_total",
        "counter",
        "Registry announcements refused, by reason.",
      );
      byLabel("gateway_registry_rejected_total", "reason", Object.entries(registry.rejected));
    }

    const memory = Deno.memoryUsage();
    metric("process_resident_memory_bytes", "gauge", "Resident set size.");
    lines.push(`process_resident_memory_bytes ${memory.rss}`);
    metric("gateway_heap_used_bytes", "gauge", "V8 heap in use.");
    lines.push(`gateway_heap_used_bytes ${memory.heapUsed}`);
    metric("gateway_heap_total_bytes", "gauge", "V8 heap reserved.");
    lines.push(`gateway_heap_total_bytes ${memory.heapTotal}`);
    metric("gateway_external_memory_bytes", "gauge", "Memory held outside the V8 heap.");
    lines.push(`gateway_external_memory_bytes ${memory.external}`);
    metric("gateway_event_loop_lag_seconds", "gauge", "Event-loop lag of the latest sample.");
    lines.push(`gateway_event_loop_lag_seconds ${eventLoopLag.latestMs / 1000}`);
    metric(
      "gateway_event_loop_lag_max_seconds",
      "gauge",
      "Largest event-loop lag since the previous scrape.",
    );
    lines.push(`gateway_event_loop_lag_max_seconds ${eventLoopLag.maxMs / 1000}`);
    lines.push(...renderProcessMetrics());
    return lines.join("\n") + "\n";
  }
}
