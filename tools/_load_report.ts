/**
 * The load test's final report: one JSON-friendly object (`-json` prints it as is) and its
 * human-readable rendering.
 *
 * @module
 */
import { errorCount, type LoadCounters } from "./_load_counters.ts";
import type { LatencySummary } from "./_latency_histogram.ts";

/** The settings a run was started with, echoed in its report. */
export interface LoadSettings {
  /** `ws` or `quic`. */
  transport: string;
  /** The URL or address connected to. */
  target: string;
  /** Connections asked for. */
  conn: number;
  /** Messages per connection (0: until the duration ends). */
  msg: number;
  /** Milliseconds between messages of one connection. */
  interval_ms: number;
  /** Seconds over which connections were opened. */
  rampup_sec: number;
  /** Seconds the run was allowed (0: until every message was sent). */
  duration_sec: number;
  /** Payload bytes per message (0: ping envelopes). */
  payload_bytes: number;
  /** Client processes. */
  procs: number;
  /** Whether sessions that ended or failed to open were opened again (`-hold`). */
  hold: boolean;
  /** Sessions dropped and resumed per second (`-reconnect`; 0: none). */
  reconnect_per_sec: number;
  /** Local addresses connected from (empty: chosen by the kernel). */
  source_addresses: string[];
  /** Errors tolerated before the run counts as failed. */
  max_errors: number;
}

/** The final report. */
export interface LoadReport {
  /** When the run started, ISO 8601. */
  started_at: string;
  /** Seconds from start to the last connection closed. */
  elapsed_sec: number;
  /** What was asked for. */
  settings: LoadSettings;
  /** Connection outcomes. */
  connections: {
    attempted: number;
    /** Every connection that opened, reopened ones included. */
    established: number;
    /** Held sessions opened again after they had been open and ended (`-hold`). */
    reconnects: number;
    failed: number;
    /** Failed connections per reason. */
    failure_reasons: Record<string, number>;
    /** Most connections open at once: exact with one process, sampled every second across
     * several. */
    peak_open: number;
    /** Connections still open when `-duration` ended or the run was stopped (0 otherwise). */
    open_at_stop: number;
  };
  /** Message outcomes; every sent message expects one reply. */
  messages: {
    sent: number;
    received: number;
    lost: number;
    /** `error` replies per error code. */
    error_replies: Record<string, number>;
  };
  /** Messages per second over the elapsed time. */
  throughput: { sent_per_sec: number; received_per_sec: number };
  /** Round-trip times of replies. */
  latency_ms: LatencySummary;
  /** Drops and resumes (`-reconnect`): duplicates and seq gaps must be 0. */
  resume: {
    /** Sessions resumed. */
    resumes: number;
    /** Resumes that failed, per reason. */
    failures: Record<string, number>;
    /** Messages replayed by the gateway. */
    replayed: number;
    /** Messages sent again after a resume: they went into a dropped connection and never
     * reached the gateway (not an error). */
    resent: number;
    /** Envelopes received twice. */
    duplicates: number;
    /** Envelopes that never arrived (skipped `seq`). */
    seq_gaps: number;
    /** Mean time from a drop to the last replayed message, ms. */
    mean_ms: number;
    /** Longest such time, ms. */
    max_ms: number;
  };
  /** Connections the gateway closed. */
  closes: {
    /** Closes with 4000 heartbeat timeout. */
    heartbeat_timeout: number;
    /** Every gateway-initiated close per `code reason`. */
    by_server: Record<string, number>;
  };
  /** Everything that counts against `-max-errors`. */
  errors: number;
  /** Why the run stopped early, if it did. */
  aborted: string | null;
  /** Whether `-duration` ended the run. */
  duration_reached: boolean;
  /** Whether errors stayed within `-max-errors` and the run was not aborted. */
  passed: boolean;
  /** One sentence that says what the run proved. */
  verdict: string;
}

/** Inputs of {@linkcode buildReport} besides the counters. */
export interface ReportInputs {
  /** When the run started. */
  startedAt: Date;
  /** Seconds the run took. */
  elapsedSec: number;
  /** The settings. */
  settings: LoadSettings;
  /** Most connections open at once. */
  peakOpen: number;
  /** Why the run stopped early, if it did. */
  aborted: string | null;
  /** Whether `-duration` ended the run (rather than every session finishing its messages). */
  durationReached: boolean;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Builds the report from the added-up counters and latencies. */
export function buildReport(
  inputs: ReportInputs,
  counters: LoadCounters,
  latency: LatencySummary,
): LoadReport {
  const errors = errorCount(counters);
  const { settings } = inputs;
  const passed = inputs.aborted === null && errors <= settings.max_errors;
  const reopened = settings.hold ? ` (${counters.reconnects} reconnects)` : "";
  const held = inputs.durationReached
    ? `${counters.openAtStop} of ${settings.conn} sessions held open until -duration ended` +
      reopened
    : inputs.aborted
    ? `${counters.openAtStop} of ${settings.conn} sessions open when stopped${reopened}`
    : `every session closed after its messages`;
  // Reopened sessions are the same sessions again, not more of them.
  const opened = counters.established - counters.reconnects;
  const verdict = `${passed ? "PASS" : "FAIL"}: ${opened} of ${settings.conn} ` +
    `sessions established (peak ${inputs.peakOpen} open at once), ${held}, ` +
    `${counters.received} of ${counters.sent} messages answered, ` +
    (settings.reconnect_per_sec > 0
      ? `${counters.resumes} resumes with ${counters.duplicates} duplicated and ` +
        `${counters.seqGaps} skipped messages, `
      : "") +
    `${errors} errors ` +
    `(max ${settings.max_errors})` + (inputs.aborted ? `; aborted: ${inputs.aborted}` : "");
  const elapsed = Math.max(inputs.elapsedSec, 0.001);
  return {
    started_at: inputs.startedAt.toISOString(),
    elapsed_sec: round(inputs.elapsedSec, 3),
    settings,
    connections: {
      attempted: counters.attempted,
      established: counters.established,
      reconnects: counters.reconnects,
      failed: counters.failed,
      failure_reasons: counters.failures,
      peak_open: inputs.peakOpen,
      open_at_stop: counters.openAtStop,
    },
    messages: {
      sent: counters.sent,
      received: counters.received,
      lost: counters.lost,
      error_replies: counters.errorReplies,
    },
    throughput: {
      sent_per_sec: round(counters.sent / elapsed),
      received_per_sec: round(counters.received / elapsed),
    },
    latency_ms: latency,
    resume: {
      resumes: counters.resumes,
      failures: counters.resumeFailures,
      replayed: counters.replayed,
      resent: counters.resent,
      duplicates: counters.duplicates,
      seq_gaps: counters.seqGaps,
      mean_ms: counters.resumes === 0 ? 0 : round(counters.resumeMsTotal / counters.resumes, 2),
      max_ms: round(counters.resumeMsMax, 2),
    },
    closes: { heartbeat_timeout: counters.heartbeatCloses, by_server: counters.serverCloses },
    errors,
    aborted: inputs.aborted,
    duration_reached: inputs.durationReached,
    passed,
    verdict,
  };
}

function reasons(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? "" : ` (${entries.map(([k, n]) => `${k}: ${n}`).join(", ")})`;
}

/** Renders the report for people. */
export function formatReport(r: LoadReport): string {
  const s = r.settings;
  const l = r.latency_ms;
  const sources = s.source_addresses.length > 0 ? s.source_addresses.join(", ") : "kernel's choice";
  return [
    `Load test of ${s.target} over ${s.transport}, started ${r.started_at}, ran ${r.elapsed_sec} s`,
    `  settings:    ${s.conn} connections, ${s.msg || "unlimited"} msgs each every ` +
    `${s.interval_ms} ms, ramp-up ${s.rampup_sec} s, duration ${s.duration_sec || "-"} s, ` +
    `payload ${s.payload_bytes} B, ${s.procs} process(es), sources: ${sources}` +
    (s.hold ? ", holding (reopens sessions that end)" : ""),
    `  connections: ${r.connections.attempted} attempted, ${r.connections.established} ` +
    `established (${r.connections.reconnects} reconnects), ${r.connections.failed} failed` +
    `${reasons(r.connections.failure_reasons)}; ` +
    `peak ${r.connections.peak_open} open, ${r.connections.open_at_stop} open at stop`,
    `  messages:    ${r.messages.sent} sent, ${r.messages.received} received, ` +
    `${r.messages.lost} lost, error replies ${
      Object.values(r.messages.error_replies).reduce((a, b) => a + b, 0)
    }${reasons(r.messages.error_replies)}`,
    `  throughput:  ${r.throughput.sent_per_sec} sent/s, ${r.throughput.received_per_sec} received/s`,
    `  latency:     p50 ${l.p50_ms} ms, p90 ${l.p90_ms} ms, p99 ${l.p99_ms} ms, ` +
    `p99.9 ${l.p999_ms} ms, max ${l.max_ms} ms (${l.count} samples)`,
    ...(s.reconnect_per_sec > 0
      ? [
        `  resume:      ${r.resume.resumes} resumes at ${s.reconnect_per_sec}/s, ` +
        `${r.resume.replayed} messages replayed, ${r.resume.resent} resent (never received), ` +
        `${r.resume.duplicates} duplicated, ` +
        `${r.resume.seq_gaps} skipped, failures ${
          Object.values(r.resume.failures).reduce((a, b) => a + b, 0)
        }${reasons(r.resume.failures)}; drop to last replayed message mean ` +
        `${r.resume.mean_ms} ms, max ${r.resume.max_ms} ms`,
      ]
      : []),
    `  closes:      ${r.closes.heartbeat_timeout} heartbeat timeouts, by server ${
      Object.values(r.closes.by_server).reduce((a, b) => a + b, 0)
    }${reasons(r.closes.by_server)}`,
    `  errors:      ${r.errors} (max ${s.max_errors})`,
    r.verdict,
  ].join("\n");
}
