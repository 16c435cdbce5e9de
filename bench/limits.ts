/**
 * The cost of the protection limits on the message path, in one process: ns per
 * `SessionWriter.write` (a reply) and per `sendPush` (an unreliable push), and ns per inbound
 * `ping` through `Gateway.receiveText`, each with the limits off and on. The transport encodes
 * each envelope to UTF-8 as a real one would, and its `outboundBytes` reads a real server-side
 * Deno WebSocket's `bufferedAmount` (a runtime call), as Deno's engine does. Each figure runs
 * in a process of its own, so that one case's compiled code does not slow another's. Prints
 * JSON.
 *
 * Run it on an earlier commit too (copy it there) for a before/after: with the limits off it
 * measures what that commit's code does.
 *
 * With `--fairness`, it measures instead what the rate limit is for: a gateway process, one
 * client flooding echo requests as fast as its socket allows (reconnecting whenever it is
 * closed), and another client's ping round trips, p50 and p99, idle and during the flood, with
 * the limits off (`messages_per_sec` 0) and at their defaults.
 *
 * Usage: deno run -A bench/limits.ts [--writes 2000000] [--rounds 5] [--fairness [--seconds 5]]
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { startGateway } from "./_processes.ts";
import { Gateway } from "../src/core/gateway.ts";
import { Logger } from "../src/core/logger.ts";
import { encodePush } from "../src/core/protocol.ts";
import type { Session } from "../src/core/session.ts";
import { SessionManager } from "../src/core/session_manager.ts";
import { SessionWriter } from "../src/core/session_writer.ts";
import type { ServiceHost } from "../src/core/service_host.ts";
import { GatewayMetrics } from "../src/ops/metrics.ts";

const USAGE = `Usage: deno run -A bench/limits.ts [options]

Measures what the outbound and rate limits cost per message and prints JSON.

Options:
  --writes <n>   operations per round (default 2000000)
  --case <name>  run one figure in this process and print its ns
  --fairness     measure ping round trips beside a flooding client instead
  --seconds <s>  measuring time of each fairness phase (default 5)
  --rounds <n>   rounds; the median is reported (default 5)
  -h, --help     show this help`;

/** A real server-side Deno WebSocket, for a real `bufferedAmount` read. */
async function denoSocket(): Promise<{ socket: WebSocket; close(): Promise<void> }> {
  const opened = Promise.withResolvers<WebSocket>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => opened.resolve(socket);
    return response;
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  const socket = await opened.promise;
  return {
    socket,
    close: async () => {
      const closed = new Promise((resolve) => client.onclose = resolve);
      client.close();
      await closed;
      await server.shutdown();
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** ns per call of `op`, the median of `rounds` rounds of `n` calls. */
function time(n: number, rounds: number, op: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 200_000); i++) op(i); // warm up
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) op(i);
    results.push((performance.now() - started) * 1e6 / n);
  }
  return Math.round(median(results) * 10) / 10;
}

/** The figures, each measured in a process of its own. */
const CASES = [
  "bufferedAmount_read",
  "rate_admit",
  "write_limit_off",
  "write_limit_on",
  "push_limit_off",
  "push_limit_on",
  "receive_ping_limits_off",
  "receive_ping_limits_on",
  "receive_echo_limits_off",
  "receive_echo_limits_on",
] as const;

/** ns per operation of one figure, measured in this process. */
async function measure(name: string, n: number, rounds: number): Promise<number> {
  const real = await denoSocket();
  try {
    const encoder = new TextEncoder();
    const buffer = new Uint8Array(64 * 1024);
    const transport = {
      kind: "websocket" as const,
      write: (text: string) => encoder.encodeInto(text, buffer).written,
      get outboundBytes() {
        return real.socket.bufferedAmount;
      },
      close: () => {},
    };
    if (name === "bufferedAmount_read") return time(n, rounds, () => real.socket.bufferedAmount);
    if (name === "rate_admit") {
      // The limiter alone, on a clock that moves 10 µs per message: never refuses.
      const { RateLimiter } = await import("../src/core/rate_limiter.ts");
      const limiter = new RateLimiter({
        messagesPerSec: 200,
        burst: 400,
        routes: { "chat.say": { per_sec: 5, burst: 10 } },
        maxViolations: 50,
        violationWindowMs: 10_000,
      });
      const holder = { rate: undefined };
      return time(n, rounds, (i) => limiter.admit(holder, "echo", i * 10));
    }
    const on = name.endsWith("_on");
    const metrics = new GatewayMetrics();
    const writer = new SessionWriter(metrics, { maxOutboundBytes: on ? 1024 * 1024 : undefined });
    if (name.startsWith("write_") || name.startsWith("push_")) {
      const session = new SessionManager().create(transport, "bench");
      const reply = `{"type":"response","id":1,"data":"${"x".repeat(40)}"}`;
      const push = encodePush("pos", { x: 1, y: 2, data: "x".repeat(20) }, { unreliable: true });
      return name.startsWith("write_")
        ? time(n, rounds, () => writer.write(session, reply))
        : time(n, rounds, () => writer.sendPush(session, push));
    }
    const services: ServiceHost = {
      request: (_session: Session, _route: string, data: unknown) => data,
      notify: () => undefined,
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
    // Loaded by name, so this file also runs on commits before the limiter existed (off only).
    const limiterModule = "../src/core/rate_limiter.ts";
    const { RateLimiter } = on ? await import(limiterModule) : { RateLimiter: undefined };
    const gateway = new Gateway({
      sessions: new SessionManager(),
      services,
      writer,
      requestTimeoutMs: 1000,
      events: metrics,
      logger: new Logger("error"),
      maxMessageBytes: 64 * 1024,
      maxProtocolErrors: 10,
      // A limiter that never refuses here: 10^5 per second with a burst of 10^9.
      rateLimiter: RateLimiter?.from({
        messagesPerSec: 100_000,
        burst: 1_000_000_000,
        maxViolations: 50,
        violationWindowMs: 10_000,
      }),
    });
    const session = gateway.open(transport, "bench");
    const text = name.startsWith("receive_ping")
      ? '{"type":"ping","id":1}'
      : '{"type":"request","id":1,"route":"echo","data":"xxxxxxxxxxxxxxxx"}';
    return time(n, rounds, () => gateway.receiveText(session, text));
  } finally {
    await real.close();
  }
}

/** Floods echo requests at the gateway on `port` until killed, reconnecting when closed. */
async function flood(port: number): Promise<never> {
  const text = '{"type":"request","id":1,"route":"echo","data":"xxxxxxxxxxxxxxxx"}';
  while (true) {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((resolve) => socket.onopen = socket.onerror = resolve);
    const closed = new Promise((resolve) => socket.onclose = resolve);
    let open = true;
    closed.then(() => open = false);
    while (open) {
      // As fast as the socket takes them: send while Deno buffers little, then yield.
      for (let i = 0; i < 200 && socket.readyState === WebSocket.OPEN; i++) socket.send(text);
      await new Promise((resolve) => setTimeout(resolve, 0));
      while (open && socket.bufferedAmount > 256 * 1024) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }
}

/** Ping round trips in ms, one at a time, for `seconds`. */
async function pings(port: number, seconds: number): Promise<number[]> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve) => socket.onopen = resolve);
  const rtts: number[] = [];
  let answered: (() => void) | undefined;
  socket.onmessage = () => answered?.();
  const end = performance.now() + seconds * 1000;
  for (let id = 1; performance.now() < end; id++) {
    const sent = performance.now();
    const answer = new Promise<void>((resolve) => answered = resolve);
    socket.send(`{"type":"ping","id":${id}}`);
    await answer;
    rtts.push(performance.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  socket.close();
  return rtts;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] * 100) /
    100;
}

/** The fairness figures: ping p50/p99 idle and beside a flooder, limits off and on. */
async function fairness(seconds: number): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const [label, limits] of [["off", { messages_per_sec: 0 }], ["on", {}]] as const) {
    await using gateway = await startGateway({ limits });
    const port = Number(gateway.info.port);
    const idle = await pings(port, seconds);
    const flooder = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--flood", String(port)],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const busy = await pings(port, seconds);
      result[`ping_p50_ms_idle_limits_${label}`] = percentile(idle, 0.5);
      result[`ping_p99_ms_idle_limits_${label}`] = percentile(idle, 0.99);
      result[`ping_p50_ms_flood_limits_${label}`] = percentile(busy, 0.5);
      result[`ping_p99_ms_flood_limits_${label}`] = percentile(busy, 0.99);
    } finally {
      flooder.kill("SIGKILL");
      await flooder.status;
    }
  }
  return result;
}

async function main(): Promise<void> {
  let n: number, rounds: number, only: string | undefined;
  try {
    const flags = parseCliArgs(Deno.args, {
      writes: { type: "string" },
      rounds: { type: "string" },
      case: { type: "string" },
      fairness: { type: "boolean" },
      seconds: { type: "string" },
      flood: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (flags.help) {
      console.log(USAGE);
      return;
    }
    n = intFlag("writes", flags.writes, 2_000_000, 1_000, 100_000_000);
    rounds = intFlag("rounds", flags.rounds, 5, 1, 100);
    only = flags.case;
    if (flags.flood !== undefined) await flood(intFlag("flood", flags.flood, 0, 1, 65_535));
    if (flags.fairness) {
      const seconds = intFlag("seconds", flags.seconds, 5, 1, 600);
      console.log(JSON.stringify(await fairness(seconds), null, 2));
      return;
    }
    if (only !== undefined && !(CASES as readonly string[]).includes(only)) {
      throw new UsageError(`Unknown --case "${only}"; one of ${CASES.join(", ")}`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (only !== undefined) {
    console.log(await measure(only, n, rounds));
    return;
  }
  const result: Record<string, number> = {};
  for (const name of CASES) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--case",
        name,
        "--writes",
        String(n),
        "--rounds",
        String(rounds),
      ],
      stderr: "inherit",
    }).output();
    result[`${name}_ns`] = Number(new TextDecoder().decode(output.stdout).trim());
  }
  console.log(JSON.stringify({ operations: n, rounds, ...result }, null, 2));
}

if (import.meta.main) await main();
