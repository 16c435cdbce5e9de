/**
 * Load test for the gateway: opens many sessions, sends messages on each, measures round trips,
 * and reports what happened. `-procs N` spreads the sessions over N worker processes, each
 * connecting from its own `127.0.0.x` address, to get past the per-process open-files limit and
 * the ephemeral port range of one source address; `-hold` reopens sessions that end, for soak
 * runs.
 *
 * Exit status: 0 when errors stayed within `-max-errors`, 1 when they did not (or the run was
 * aborted), 2 for bad flags.
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { addCounters, connectingCount, errorCount } from "./_load_counters.ts";
import { buildReport, formatReport, type LoadSettings } from "./_load_report.ts";
import type { LoadPlan } from "./_load_runner.ts";
import { type LoadShare, runLocalShare, spawnWorkerShare } from "./_load_share.ts";
import { runWorker } from "./_load_worker.ts";
import { CONNECTORS } from "./_connect.ts";
import { loadTestPortRange, SourcePorts } from "./_source_ports.ts";
import { LatencyHistogram } from "./_latency_histogram.ts";
import {
  MINT_OPTIONS,
  MINT_USAGE,
  mintTokens,
  readToken,
  TOKEN_OPTIONS,
  TOKEN_USAGE,
  type TokenSource,
  withAuth,
} from "./_auth.ts";
import type { Connector } from "./_client_connection.ts";
import {
  describeTarget,
  parseTarget,
  type Target,
  TARGET_OPTIONS,
  TARGET_USAGE,
} from "./_target.ts";

const USAGE = `Usage: deno task load-test [options]

Opens many sessions against a gateway, sends messages on each and reports connections,
messages, throughput, round-trip latency percentiles and errors.

Options:
${TARGET_USAGE}
  -conn <n>             sessions to open (default 100)
  -msg <n>              messages per session; 0 sends until -duration ends (default 10)
  -interval <ms>        milliseconds between two messages of a session (default 1000)
  -rampup <s>           seconds over which sessions are opened (default 0)
  -duration <s>         stop after this many seconds; 0 runs until every message is answered
                        (default 0)
  -payload <bytes>      0 sends ping envelopes (heartbeats); more sends echo requests carrying
                        that many bytes (default 0)
  -procs <n>            client processes; with a 127.x or localhost target, process i connects
                        from 127.0.0.<i+1> (default 1)
  -hold                 reopen a session when it ends or fails to open (after about 1 s,
                        doubling up to about 16 s while it keeps failing), holding -conn
                        open until -duration ends; needs -msg 0
  -reconnect <n>        drop this many sessions a second (each closes its connection with
                        4000 as a dead link would) and resume them on a new connection with
                        the last seq seen; counts resumes, replayed, duplicated and skipped
                        messages (the last two must be 0); needs -payload of at least 1, since
                        pongs are not replayed (default 0: off)
  -max-errors <n>       errors tolerated before the run fails and stops (default 0)
${TOKEN_USAGE}
${MINT_USAGE}
  -json                 print the report as JSON on stdout
  -h, -help             show this help

Go-style (-conn 100) and GNU-style (--conn 100) flags both work.
Exit status: 0 pass, 1 errors above -max-errors or aborted, 2 bad flags.`;

/** How often the coordinator samples progress. */
const TICK_MS = 1_000;
/** A plain progress line every this many ticks when stderr is not a terminal. */
const PLAIN_EVERY_TICKS = 5;

const OPTIONS = {
  ...TARGET_OPTIONS,
  ...TOKEN_OPTIONS,
  ...MINT_OPTIONS,
  conn: { type: "string" },
  msg: { type: "string" },
  interval: { type: "string" },
  rampup: { type: "string" },
  duration: { type: "string" },
  payload: { type: "string" },
  procs: { type: "string" },
  hold: { type: "boolean" },
  reconnect: { type: "string" },
  "max-errors": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  // Internal: run as one worker of -procs, connecting from this address ("" for any).
  worker: { type: "string" },
} as const;

interface Flags {
  target: Target;
  caFile: string | undefined;
  settings: LoadSettings;
  worker: string | undefined;
  json: boolean;
  /** The auth flags as given, passed on to workers. */
  authArgs: string[];
  /** Tokens to log each session in with; none without auth flags. */
  tokens: TokenSource | undefined;
}

async function parseFlags(args: string[]): Promise<Flags | "help"> {
  const f = parseCliArgs(args, OPTIONS);
  if (f.help) return "help";
  const target = await parseTarget(f);
  const conn = intFlag("conn", f.conn, 100, 1, 1_000_000);
  const msg = intFlag("msg", f.msg, 10, 0, 1_000_000_000);
  const duration = intFlag("duration", f.duration, 0, 0, 30 * 86_400);
  // One source address each, 127.0.0.1 to 127.0.0.254.
  const procs = intFlag("procs", f.procs, 1, 1, 254);
  if (msg === 0 && duration === 0) {
    throw new UsageError("--msg 0 sends without end: give a --duration too");
  }
  const hold = f.hold ?? false;
  if (hold && msg !== 0) {
    throw new UsageError(
      `--hold keeps sessions open until --duration ends, but --msg ${msg} closes them: ` +
        `use --msg 0`,
    );
  }
  if (procs > conn) throw new UsageError(`--procs ${procs} is more than --conn ${conn}`);
  const reconnect = intFlag("reconnect", f.reconnect, 0, 0, 1_000_000);
  const payload = intFlag("payload", f.payload, 0, 0, 16 * 1024 * 1024);
  if (reconnect > 0 && payload === 0) {
    throw new UsageError(
      "--reconnect needs --payload of at least 1: it checks answers replayed after a resume, " +
        "and pongs are never replayed",
    );
  }
  const loopback = /^127\.\d+\.\d+\.\d+$|^localhost$/.test(target.hostname);
  const secretEnv = f["jwt-secret-env"];
  const token = await readToken(f);
  if (token !== undefined && secretEnv !== undefined) {
    throw new UsageError("Give --token (or --token-file) or --jwt-secret-env, not both");
  }
  return {
    authArgs: [
      ...(f.token === undefined ? [] : [`--token=${f.token}`]),
      ...(f["token-file"] === undefined ? [] : [`--token-file=${f["token-file"]}`]),
      ...(secretEnv === undefined ? [] : [`--jwt-secret-env=${secretEnv}`]),
    ],
    tokens: secretEnv !== undefined
      ? mintTokens(secretEnv)
      : token === undefined
      ? undefined
      : () => Promise.resolve(token),
    target,
    caFile: f.ca,
    json: f.json ?? false,
    worker: f.worker,
    settings: {
      transport: target.transport,
      target: describeTarget(target),
      conn,
      msg,
      interval_ms: intFlag("interval", f.interval, 1000, 1, 3_600_000),
      rampup_sec: intFlag("rampup", f.rampup, 0, 0, 86_400),
      duration_sec: duration,
      payload_bytes: payload,
      procs,
      hold,
      reconnect_per_sec: reconnect,
      // Only loopback has 127.0.0.x to spare, and only the ws client can pick its source. One
      // process gets one too: with a source the tool picks the ports (see _source_ports.ts).
      source_addresses: loopback && target.transport === "ws"
        ? Array.from({ length: procs }, (_, i) => `127.0.0.${i + 1}`)
        : [],
      max_errors: intFlag("max-errors", f["max-errors"], 0, 0, Number.MAX_SAFE_INTEGER),
    },
  };
}

function planFor(target: Target, s: LoadSettings, conn: number, source?: string): LoadPlan {
  return {
    target: {
      ...target,
      localAddress: source || undefined,
      localPorts: source ? new SourcePorts(loadTestPortRange()) : undefined,
    },
    connections: conn,
    messagesPerConnection: s.msg,
    intervalMs: s.interval_ms,
    rampupMs: s.rampup_sec * 1000,
    payloadBytes: s.payload_bytes,
    hold: s.hold,
    reconnectPerSec: s.reconnect_per_sec / s.procs,
    resumeConnector: CONNECTORS[target.transport],
  };
}

/** The flags a worker gets: the run's own, its share of connections and its source. */
function workerArgs(s: LoadSettings, target: Target, conn: number, source: string, ca?: string) {
  const host = target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname;
  return [
    `--addr=${host}:${target.port}`,
    `--path=${target.path}`,
    `--transport=${target.transport}`,
    ...(ca === undefined ? [] : [`--ca=${ca}`]),
    `--connect-timeout=${target.timeoutMs}`,
    `--conn=${conn}`,
    `--msg=${s.msg}`,
    `--interval=${s.interval_ms}`,
    `--rampup=${s.rampup_sec}`,
    // Workers stop when the coordinator says so; a duration only satisfies the -msg 0 check.
    `--duration=${s.duration_sec}`,
    `--payload=${s.payload_bytes}`,
    ...(s.hold ? ["--hold"] : []),
    // Each worker drops its share of the rate, rounded up.
    `--reconnect=${Math.ceil(s.reconnect_per_sec / s.procs)}`,
    `--worker=${source}`,
  ];
}

/** The transport's connector; with auth flags, one that logs every session in first. */
function connector(flags: Flags): Connector {
  const connect = CONNECTORS[flags.target.transport];
  return flags.tokens ? withAuth(connect, flags.tokens) : connect;
}

/** Live progress on stderr: a rewritten line on a terminal, a plain line now and then if not. */
class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #encoder = new TextEncoder();
  #ticks = 0;

  show(line: string): void {
    this.#ticks++;
    if (this.#tty) this.#write(`\r\x1b[2K${line}`);
    else if (this.#ticks % PLAIN_EVERY_TICKS === 0) this.#write(`${line}\n`);
  }

  end(): void {
    if (this.#tty && this.#ticks > 0) this.#write("\n");
  }

  #write(text: string): void {
    try {
      Deno.stderr.writeSync(this.#encoder.encode(text));
    } catch {
      // Progress is best effort.
    }
  }
}

async function coordinate(flags: Flags): Promise<number> {
  const { settings: s, target } = flags;
  const started = new Date();
  const t0 = performance.now();
  const shares: LoadShare[] = [];
  for (let i = 0; i < s.procs; i++) {
    const conn = Math.floor(s.conn / s.procs) + (i < s.conn % s.procs ? 1 : 0);
    shares.push(
      s.procs === 1
        ? runLocalShare(
          planFor(target, s, conn, s.source_addresses[0]),
          connector(flags),
        )
        : (
          spawnWorkerShare(
            new URL(import.meta.url),
            [
              ...workerArgs(s, target, conn, s.source_addresses[i] ?? "", flags.caFile),
              ...flags.authArgs,
            ],
          )
        ),
    );
  }
  let aborted: string | null = null;
  let durationReached = false;
  const stopAll = (why: string) => {
    if (aborted === null && !durationReached) aborted = why;
    for (const share of shares) share.stop();
  };
  const onSignal = () => stopAll("interrupted");
  Deno.addSignalListener("SIGINT", onSignal);
  const durationTimer = s.duration_sec > 0
    ? setTimeout(() => {
      durationReached = true;
      for (const share of shares) share.stop();
    }, s.duration_sec * 1000)
    : undefined;
  const progress = new Progress();
  let peakOpen = 0;
  let lastReceived = 0;
  const tick = () => {
    const c = addCounters(shares.map((share) => share.counters));
    peakOpen = Math.max(peakOpen, c.open, c.peakOpen);
    const errors = errorCount(c);
    if (errors > s.max_errors && aborted === null) {
      stopAll(`errors exceeded -max-errors (${errors} > ${s.max_errors})`);
    }
    const rate = Math.round((c.received - lastReceived) * 1000 / TICK_MS);
    lastReceived = c.received;
    progress.show(
      `${Math.round((performance.now() - t0) / 1000)}s  open ${c.open}/${s.conn}  ` +
        `connecting ${connectingCount(c)}  failed ${c.failed}  ` +
        (s.hold ? `reconnects ${c.reconnects}  ` : "") +
        (s.reconnect_per_sec > 0 ? `resumes ${c.resumes}  ` : "") +
        `sent ${c.sent}  received ${c.received} (${rate} msg/s)  errors ${errors}`,
    );
  };
  const ticker = setInterval(tick, TICK_MS);
  let results;
  try {
    results = await Promise.all(shares.map((share) => share.done));
  } catch (error) {
    stopAll("a worker failed");
    await Promise.allSettled(shares.map((share) => share.done));
    progress.end();
    console.error(`load_test: ${(error as Error).message}`);
    return 1;
  } finally {
    clearInterval(ticker);
    clearTimeout(durationTimer);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  tick();
  progress.end();
  const counters = addCounters(results.map((r) => r.counters));
  const latency = new LatencyHistogram();
  for (const r of results) latency.add(r.latency);
  const report = buildReport(
    {
      startedAt: started,
      elapsedSec: (performance.now() - t0) / 1000,
      settings: s,
      peakOpen: Math.max(peakOpen, counters.peakOpen),
      aborted,
      durationReached,
    },
    counters,
    latency.summary(),
  );
  console.log(flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
  if (counters.established === 0 && counters.failed > 0) {
    console.error(
      `load_test: cannot connect to ${s.target}: ${
        Object.entries(counters.failures).map(([k, n]) => `${k} (${n})`).join(", ")
      }`,
    );
  }
  return report.passed ? 0 : 1;
}

/** Runs the load test with command-line `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = await parseFlags(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`load_test: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags === "help") {
    console.log(USAGE);
    return 0;
  }
  if (flags.worker !== undefined) {
    // Ctrl-C reaches the whole process group; the coordinator stops workers through stdin.
    Deno.addSignalListener("SIGINT", () => {});
    const conn = flags.settings.conn;
    await runWorker(
      planFor(flags.target, flags.settings, conn, flags.worker),
      connector(flags),
    );
    return 0;
  }
  return await coordinate(flags);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
