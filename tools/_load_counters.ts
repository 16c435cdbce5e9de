/**
 * What one load-test process counts, as a plain JSON-friendly object so worker processes can
 * stream it to the parent, which adds them up.
 *
 * @module
 */

/** Counts of one load run, or of several added together. */
export interface LoadCounters {
  /** Connections tried. */
  attempted: number;
  /** Connections that opened. */
  established: number;
  /** Held sessions opened again after they had been open and ended (`-hold`). */
  reconnects: number;
  /** Connections that did not open. */
  failed: number;
  /** Failed connections per reason (`refused`, `timeout`, `http_503`...). */
  failures: Record<string, number>;
  /** Connections open now. */
  open: number;
  /** Most connections open at once (across processes: the largest of any one). */
  peakOpen: number;
  /** Connections open when the run was told to stop (before it closed them). */
  openAtStop: number;
  /** Messages sent. */
  sent: number;
  /** Replies received to messages sent. */
  received: number;
  /** Messages whose reply never came (counted when their connection ended). */
  lost: number;
  /** Replies of type `error`, per error code. */
  errorReplies: Record<string, number>;
  /** Connections the gateway closed, per `code reason`. */
  serverCloses: Record<string, number>;
  /** Connections closed with 4000 heartbeat timeout. */
  heartbeatCloses: number;
  /** Sessions resumed after a drop (`-reconnect`). */
  resumes: number;
  /** Resumes that failed, per reason. */
  resumeFailures: Record<string, number>;
  /** Messages the gateway replayed to resumed sessions. */
  replayed: number;
  /** Messages sent again after a resume: sent into a dropped connection, never received. */
  resent: number;
  /** Envelopes received twice (a `seq` seen before). */
  duplicates: number;
  /** Envelopes that never arrived (`seq` numbers skipped). */
  seqGaps: number;
  /** Sum of resume times, ms: from the drop to the last replayed message. */
  resumeMsTotal: number;
  /** Longest resume time, ms. */
  resumeMsMax: number;
}

/** A fresh set of zero counts. */
export function emptyCounters(): LoadCounters {
  return {
    attempted: 0,
    established: 0,
    reconnects: 0,
    failed: 0,
    failures: {},
    open: 0,
    peakOpen: 0,
    openAtStop: 0,
    sent: 0,
    received: 0,
    lost: 0,
    errorReplies: {},
    serverCloses: {},
    heartbeatCloses: 0,
    resumes: 0,
    resumeFailures: {},
    replayed: 0,
    resent: 0,
    duplicates: 0,
    seqGaps: 0,
    resumeMsTotal: 0,
    resumeMsMax: 0,
  };
}

function sum(values: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) {
    for (const [key, n] of Object.entries(value)) out[key] = (out[key] ?? 0) + n;
  }
  return out;
}

/** Adds several sets of counts into one. */
export function addCounters(all: LoadCounters[]): LoadCounters {
  const total = emptyCounters();
  for (const c of all) {
    total.attempted += c.attempted;
    total.established += c.established;
    total.reconnects += c.reconnects;
    total.failed += c.failed;
    total.open += c.open;
    total.peakOpen = Math.max(total.peakOpen, c.peakOpen);
    total.openAtStop += c.openAtStop;
    total.sent += c.sent;
    total.received += c.received;
    total.lost += c.lost;
    total.heartbeatCloses += c.heartbeatCloses;
    total.resumes += c.resumes;
    total.replayed += c.replayed;
    total.resent += c.resent;
    total.duplicates += c.duplicates;
    total.seqGaps += c.seqGaps;
    total.resumeMsTotal += c.resumeMsTotal;
    total.resumeMsMax = Math.max(total.resumeMsMax, c.resumeMsMax);
  }
  total.resumeFailures = sum(all.map((c) => c.resumeFailures));
  total.failures = sum(all.map((c) => c.failures));
  total.errorReplies = sum(all.map((c) => c.errorReplies));
  total.serverCloses = sum(all.map((c) => c.serverCloses));
  return total;
}

/** Connection attempts under way: neither open nor failed yet. */
export function connectingCount(c: LoadCounters): number {
  return c.attempted - c.established - c.failed;
}

/** Everything that counts against `-max-errors`. */
export function errorCount(c: LoadCounters): number {
  const values = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return c.failed + c.lost + values(c.errorReplies) + values(c.serverCloses) +
    values(c.resumeFailures) + c.duplicates + c.seqGaps;
}
