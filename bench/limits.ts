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
 * Usage: deno run -A bench/limits.ts [--writes 2000000] [--rounds 5]
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
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
      write: (text: string) => (encoder.encodeInto(text, buffer), true),
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

async function main(): Promise<void> {
  let n: number, rounds: number, only: string | undefined;
  try {
    const flags = parseCliArgs(Deno.args, {
      writes: { type: "string" },
      rounds: { type: "string" },
      case: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (flags.help) {
      console.log(USAGE);
      return;
    }
    n = intFlag("writes", flags.writes, 2_000_000, 1_000, 100_000_000);
    rounds = intFlag("rounds", flags.rounds, 5, 1, 100);
    only = flags.case;
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
