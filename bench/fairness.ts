/**
 * Fairness (issue 17): one session floods a gateway with echo requests as fast as its socket
 * takes them while another session pings every 10 ms; the victim's ping p50/p99 idle and under
 * the flood, for each WebSocket engine, with the default rate limits and without them. Then the
 * same with a flooder that connects again whenever the gateway closes it (a rate-limit close).
 *
 * Between the two floods the gateway's backlog drains (a ping answered within 5 ms again).
 * The gateway runs alone on core 0; the flooder (a raw TCP WebSocket client in bench/driver.mjs
 * that writes pre-masked frames and drops the replies, at a lower priority) and the victim
 * (bench/driver.mjs `ping`) share core 1.
 *
 * Usage: deno run -A bench/fairness.ts [--runs 3] [--seconds 5]
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { drive, gatewaySpec, type ServerSpec, startServer } from "./compare.ts";

const USAGE = `Usage: deno run -A bench/fairness.ts [--runs <n>] [--seconds <s>]

Measures one session's ping round trips while another floods, and prints the figures as JSON.

Options:
  --runs <n>      rounds; each runs every gateway variant once (default: 3)
  --seconds <s>   how long the victim pings, idle and then under the flood (default: 5)
  -h, --help      show this help`;

/** How often the victim pings. */
export const PING_INTERVAL_MS = 10;

/** Bytes of data in each flooded echo request. */
const FLOOD_PAYLOAD_BYTES = 64;

/** The gateways measured: each engine, with the default rate limits and with none. */
export const FAIRNESS_VARIANTS: ServerSpec[] = (["gateway", "deno"] as const).flatMap((engine) => [
  gatewaySpec(`${engine}_limits`, `${engine} engine, rate limits on (defaults)`, {
    config: { websocket: { engine } },
  }),
  gatewaySpec(`${engine}_no_limits`, `${engine} engine, rate limits off`, {
    config: { websocket: { engine }, limits: { messages_per_sec: 0 } },
  }),
]);

/** One run's figures. */
export interface FairnessRun {
  idle_p50_ms: number;
  idle_p99_ms: number;
  flood_p50_ms: number;
  flood_p99_ms: number;
  /** Under a flooder that connects again whenever it is closed. */
  reconnecting_p50_ms: number;
  reconnecting_p99_ms: number;
  /** Pings unanswered 5 s after the last, in all three (in the p99s with their age then). */
  unanswered: number;
  /** Echo frames the one-session flooder wrote (the kernel took them, the gateway may not). */
  flood_frames_sent: number;
  /** Close codes the one-session flooder received, with counts. */
  flood_close_codes: Record<string, number>;
  /** Connections the reconnecting flooder opened (one: the gateway never closed it). */
  reconnecting_connections: number;
}

/**
 * Floods `url` from core 1 (connecting again when closed, with `reconnect`) while `during`
 * runs; returns what `during` gave and the flooder's stats.
 */
async function flooding<T>(
  url: string,
  reconnect: boolean,
  during: () => Promise<T>,
): Promise<{ value: T; stats: Record<string, unknown> }> {
  const flooder = new Deno.Command("taskset", {
    args: [
      "-c",
      "1",
      // Below the victim's priority, so that sharing core 1 delays the victim's client no more
      // than it must: the delay measured is the gateway's.
      "nice",
      "-n",
      "10",
      "bun",
      new URL("driver.mjs", import.meta.url).pathname,
      "flood",
      url,
      String(FLOOD_PAYLOAD_BYTES),
      reconnect ? "1" : "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = flooder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("The flooder exited before it started");
      text += value;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // let the flood build up
    const value = await during();
    return { value, stats: await stop() };
  } finally {
    try {
      flooder.kill("SIGKILL");
    } catch {
      // already gone
    }
    await flooder.status;
  }

  async function stop(): Promise<Record<string, unknown>> {
    try {
      flooder.kill("SIGTERM");
    } catch {
      // A flooder that does not reconnect exits by itself once the gateway closes it.
    }
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    return JSON.parse(text.trim().split("\n").at(-1)!);
  }
}

/**
 * Waits until the gateway answers a ping within 5 ms again (a flood leaves a backlog behind it,
 * which the next phase must not inherit), at most `maxMs`.
 */
async function settled(url: string, maxMs = 15_000): Promise<void> {
  const socket = new WebSocket(url);
  const deadline = performance.now() + maxMs;
  try {
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${url} after the flood`));
    });
    let sentAt = 0, id = 0;
    let answered = Promise.withResolvers<void>();
    // Only the pong of the latest ping counts: one that comes late belongs to an earlier one.
    socket.onmessage = (event) => {
      if (JSON.parse(event.data).id === id) answered.resolve();
    };
    while (performance.now() < deadline) {
      answered = Promise.withResolvers<void>();
      sentAt = performance.now();
      socket.send(JSON.stringify({ type: "ping", id: ++id }));
      const timer = setTimeout(() => answered.resolve(), Math.max(0, deadline - sentAt));
      await answered.promise;
      clearTimeout(timer);
      if (performance.now() - sentAt < 5) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    socket.close();
  }
}

/** Measures `spec` once on a fresh gateway. */
export async function measureFairness(spec: ServerSpec, seconds: number): Promise<FairnessRun> {
  await using server = await startServer(spec, "echo");
  const ping = () =>
    drive(["ping", server.url, String(seconds), String(PING_INTERVAL_MS)], server.driverEnv);
  const idle = await ping();
  const { value: flood, stats } = await flooding(server.url, false, ping);
  await settled(server.url);
  const { value: again, stats: againStats } = await flooding(server.url, true, ping);
  return {
    idle_p50_ms: idle.p50_ms,
    idle_p99_ms: idle.p99_ms,
    flood_p50_ms: flood.p50_ms,
    flood_p99_ms: flood.p99_ms,
    reconnecting_p50_ms: again.p50_ms,
    reconnecting_p99_ms: again.p99_ms,
    unanswered: idle.unanswered + flood.unanswered + again.unanswered,
    flood_frames_sent: stats.frames_sent as number,
    flood_close_codes: stats.close_codes as Record<string, number>,
    reconnecting_connections: againStats.connections as number,
  };
}

/** Runs every variant once per round, `runs` rounds; returns each variant's runs by id. */
export async function runFairness(
  runs: number,
  seconds: number,
  log: (line: string) => void,
): Promise<Map<string, FairnessRun[]>> {
  const results = new Map<string, FairnessRun[]>(FAIRNESS_VARIANTS.map((v) => [v.id, []]));
  for (let i = 0; i < runs; i++) {
    for (const spec of FAIRNESS_VARIANTS) {
      const run = await measureFairness(spec, seconds);
      results.get(spec.id)!.push(run);
      const ms = (value: number) => `${value.toFixed(2)} ms`;
      log(
        `fairness ${spec.id} run ${i + 1}/${runs}: ping p99 idle ${ms(run.idle_p99_ms)}, ` +
          `one flooder ${ms(run.flood_p99_ms)} (closed ${
            JSON.stringify(run.flood_close_codes)
          }), ` +
          `reconnecting ${
            ms(run.reconnecting_p99_ms)
          } (${run.reconnecting_connections} connections)`,
      );
    }
  }
  return results;
}

async function main(args: string[]): Promise<number> {
  let runs, seconds;
  try {
    const flags = parseCliArgs(args, {
      runs: { type: "string" },
      seconds: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    runs = intFlag("runs", flags.runs, 3, 1, 50);
    seconds = intFlag("seconds", flags.seconds, 5, 1, 600);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const results = await runFairness(runs, seconds, (line) => console.error(line));
  console.log(JSON.stringify(Object.fromEntries(results), null, 2));
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
