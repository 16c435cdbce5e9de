/**
 * Session resume figures, in one process over loopback WebSocket: resumes per second (many
 * dropped sessions coming back at once, each on a new connection), the time from reconnecting
 * to the last replayed message when a session missed 100 messages, and the heap a detached
 * session costs with a full resume buffer. Prints one JSON object.
 *
 * Usage: deno run -A --v8-flags=--expose-gc bench/resume.ts [--sessions 500] [--trials 20]
 *
 * @module
 */
import WebSocket from "ws";
import { type RunningGateway, startGateway } from "../src/app.ts";
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { parseConfig } from "../src/config/config.ts";
import { DisconnectTransportError } from "../src/core/disconnect.ts";
import { Logger } from "../src/core/logger.ts";
import { encodePush, encodeResponse } from "../src/core/protocol.ts";
import { ResumeTokens } from "../src/core/resume_token.ts";
import { SessionManager } from "../src/core/session_manager.ts";
import { SessionWriter } from "../src/core/session_writer.ts";
import { GatewayMetrics } from "../src/ops/metrics.ts";

const USAGE = `Usage: deno run -A --v8-flags=--expose-gc bench/resume.ts [options]

Measures session resume and prints the figures as JSON.

Options:
  --sessions <n>   sessions dropped and resumed at once, and detached sessions weighed
                   (default 500)
  --rounds <n>     rounds of the resumes-per-second figure; the median is reported (default 3)
  --trials <n>     resumes of a session that missed 100 messages; median and p90 (default 20)
  -h, --help       show this help`;

type Envelope = { type: string; id?: number; seq?: number; data?: Record<string, unknown> };

/** A WebSocket client that keeps what it receives. */
class Client {
  readonly received: Envelope[] = [];
  #waiters: (() => void)[] = [];
  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data: Uint8Array) => {
      this.received.push(JSON.parse(new TextDecoder().decode(data)));
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static open(port: number): Promise<Client> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }

  /** Waits until `done` holds for what was received. */
  async until(done: (received: Envelope[]) => boolean): Promise<void> {
    while (!done(this.received)) await new Promise<void>((wake) => this.#waiters.push(wake));
  }

  /** Sends an envelope with `id` and waits for its answer. */
  async call(envelope: Envelope & { id: number }): Promise<Envelope> {
    this.socket.send(JSON.stringify(envelope));
    await this.until((received) => received.some((m) => m.id === envelope.id));
    return this.received.find((m) => m.id === envelope.id)!;
  }

  get lastSeq(): number {
    return this.received.reduce((last, m) => Math.max(last, m.seq ?? 0), 0);
  }

  /** Drops the connection without a close, as a dead link would. */
  drop(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.terminate();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.close();
    });
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Resumes a dropped session on a new connection; resolves with the new client and answer. */
async function resume(port: number, token: string, lastSeq: number) {
  const client = await Client.open(port);
  const answer = await client.call(
    {
      type: "resume",
      id: 1,
      data: { token, last_seq: lastSeq },
    } as Envelope & { id: number },
  );
  if (answer.type !== "response") throw new Error(`resume failed: ${JSON.stringify(answer)}`);
  return { client, answer };
}

/** Drops `sessions` sessions at once and resumes them all at once; resumes per second. */
async function resumesPerSecond(gateway: RunningGateway, port: number, sessions: number) {
  const clients = await Promise.all(Array.from({ length: sessions }, () => Client.open(port)));
  const tokens = await Promise.all(
    clients.map(async (c) => (await c.call({ type: "hello", id: 1 })).data!.resume_token as string),
  );
  await Promise.all(clients.map((c) => c.drop()));
  await waitFor(() => gateway.sessions.detachedCount === sessions);
  const started = performance.now();
  const resumed = await Promise.all(tokens.map((token) => resume(port, token, 0)));
  const elapsed = performance.now() - started;
  await Promise.all(resumed.map(({ client }) => client.close()));
  await waitFor(() => gateway.sessions.size === 0);
  return sessions / (elapsed / 1000);
}

/** A session misses `missed` pushes while away; ms from reconnecting to the last one replayed. */
async function replayTime(gateway: RunningGateway, port: number, missed: number) {
  const first = await Client.open(port);
  const token = (await first.call({ type: "hello", id: 1 })).data!.resume_token as string;
  const session = [...gateway.sessions.values()].find((s) => s.resume !== undefined)!;
  gateway.hub.join(session, "bench");
  await first.drop();
  await waitFor(() => gateway.sessions.detachedCount === 1);
  for (let i = 0; i < missed; i++) {
    gateway.hub.deliverToGroup("bench", encodePush("bench.tick", { i, pad: "x".repeat(100) }));
  }
  const started = performance.now();
  const { client, answer } = await resume(port, token, first.lastSeq);
  if (answer.data!.replayed !== missed) throw new Error(`replayed ${answer.data!.replayed}`);
  await client.until((received) => received.filter((m) => m.seq !== undefined).length >= missed);
  const ms = performance.now() - started;
  await client.close();
  await waitFor(() => gateway.sessions.size === 0);
  return ms;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

/**
 * Heap per detached session, in bytes, for `sessions` sessions filled through a writer:
 * `distinct` messages of `bytes` each per session, then detached.
 */
function detachedHeap(sessions: number, messages: number, bytes: number, shared: boolean) {
  const metrics = new GatewayMetrics();
  const manager = new SessionManager();
  const writer = new SessionWriter(metrics);
  const tokens = new ResumeTokens("bench", { maxBytes: 256 * 1024, maxMessages: 1024 });
  const transport = {
    kind: "websocket" as const,
    outboundBytes: 0,
    write: (text: string) => text.length,
    close: () => {},
  };
  const pad = "x".repeat(Math.max(0, bytes - 60));
  const before = heapUsed();
  const all = [];
  for (let s = 0; s < sessions; s++) {
    const session = manager.create(transport, "bench");
    tokens.issue(session);
    all.push(session);
  }
  const afterSessions = heapUsed();
  const push = encodePush("r", pad);
  for (const session of all) {
    for (let i = 0; i < messages; i++) {
      // Shared: one fan-out text for every session, as a group push is; else a reply each.
      writer.write(session, shared ? push.text : encodeResponse(i, `${pad}${session.id}`));
    }
    manager.closedByTransport(session, DisconnectTransportError);
  }
  const after = heapUsed();
  const buffered = all.reduce((sum, s) => sum + s.resume!.bytes, 0) / sessions;
  const result = {
    session_bytes: Math.round((afterSessions - before) / sessions),
    buffer_bytes_kept: Math.round(buffered),
    heap_bytes_per_detached_session: Math.round((after - before) / sessions),
  };
  all.length = 0;
  return result;
}

async function main(args: string[]): Promise<number> {
  let flags, sessions, rounds, trials;
  try {
    flags = parseCliArgs(args, {
      sessions: { type: "string" },
      rounds: { type: "string" },
      trials: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    sessions = intFlag("sessions", flags.sessions, 500, 1, 100_000);
    rounds = intFlag("rounds", flags.rounds, 3, 1, 100);
    trials = intFlag("trials", flags.trials, 20, 1, 10_000);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0, max_connections: sessions * 2 + 10 },
      metrics: { enabled: false },
      log: { level: "error" },
    }),
    { logger: new Logger("error") },
  );
  const port = gateway.websocketAddr!.port;
  try {
    const perSecond = [];
    for (let round = 0; round < rounds; round++) {
      perSecond.push(await resumesPerSecond(gateway, port, sessions));
    }
    await replayTime(gateway, port, 100); // warm-up
    const replayMs = [];
    for (let trial = 0; trial < trials; trial++) {
      replayMs.push(await replayTime(gateway, port, 100));
    }
    console.log(JSON.stringify(
      {
        resumes_per_sec: {
          sessions,
          median: Math.round(median(perSecond)),
          runs: perSecond.map(Math.round),
        },
        replay_100_missed_ms: {
          median: Number(median(replayMs).toFixed(2)),
          p90: Number(percentile(replayMs, 0.9).toFixed(2)),
          max: Number(Math.max(...replayMs).toFixed(2)),
          trials,
        },
        heap_per_detached_session: {
          empty: detachedHeap(sessions, 0, 0, false),
          full_buffer_distinct_replies: detachedHeap(sessions, 1024, 256, false),
          full_buffer_shared_group_pushes: detachedHeap(sessions, 1024, 256, true),
        },
      },
      null,
      2,
    ));
  } finally {
    await gateway.shutdown(1_000);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
