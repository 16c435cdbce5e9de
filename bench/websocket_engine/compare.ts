/**
 * The WebSocket engine against bare `Deno.serve` + `Deno.upgradeWebSocket`, side by side:
 * echo throughput (1,000 sessions, 64-byte data), memory per idle session (10,000 and 19,000)
 * and round-trip latency at 20,000 msgs/s. Each round runs every server once, back to back,
 * each alone on core 0 with the Bun-run driver (`bench/driver.mjs`) on core 1, and a ratio is
 * taken per round, so a slow spell of this shared machine falls on both.
 *
 * Usage: deno run --allow-all bench/websocket_engine/compare.ts [--runs 5] [--seconds 5]
 *        [--figures echo_cpu,memory_10000,memory_19000,latency] [--payload 64]
 *        [--read-buffer 1024]
 *        [--servers deno,engine]
 */
import { parseArgs } from "node:util";
import {
  type CompareFigure,
  compareFigures,
  runCompare,
  type RunningServer,
  SERVERS,
  type ServerSpec,
} from "../compare.ts";

const USAGE = `Usage: deno run --allow-all bench/websocket_engine/compare.ts [options]

Runs the engine's echo server against bare Deno.serve in interleaved rounds and prints each
round's figures and the engine ÷ bare Deno ratio.

Options:
  --runs <n>           rounds (default 5)
  --seconds <s>        measuring time of each throughput and latency run (default 5)
  --figures <ids>      comma-separated: echo_cpu (throughput and server CPU per message),
                       memory_10000, memory_19000, latency, echo_throughput, connect_rate
                       (default: echo_cpu,memory_10000,memory_19000,latency)
  --payload <bytes>    data bytes per echoed message of echo_cpu (default 64)
  --read-buffer <n>    the engine's read buffer at rest, in bytes (default: the engine's)
  --servers <ids>      comma-separated columns, the first is the ratio's denominator
                       (default deno,engine; also: node_ws, bun)
  -h, --help           show this help

Needs bun and taskset on PATH.`;

const BENCH = new URL("../", import.meta.url);

/** Runs the Bun driver on core 1 and returns its JSON result. */
async function drive(args: string[]): Promise<Record<string, number>> {
  const out = await new Deno.Command("taskset", {
    args: ["-c", "1", "bun", new URL("driver.mjs", BENCH).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`driver ${args[0]} failed: ${text}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

/**
 * Echo throughput and the server's CPU time per echoed message. On a shared machine the
 * rate moves with what else runs; CPU time per message moves much less, so it is the steadier
 * comparison of the work each server does. It includes the 1,000 handshakes (well under 1%).
 */
function echoCpuFigure(seconds: number, payload: number): CompareFigure {
  return {
    id: "echo_cpu",
    rows: [
      {
        key: "msgs_per_sec",
        title: `Echo round trips per second, 1,000 sessions, ${payload}-byte data`,
        unit: "msgs/s",
        higherIsBetter: true,
      },
      {
        key: "cpu_us_per_msg",
        title: "Server CPU time per echoed message",
        unit: "µs",
        higherIsBetter: false,
      },
    ],
    async measure(server: RunningServer) {
      const before = await server.cpuSeconds();
      const result = await drive([
        "throughput",
        server.url,
        "1000",
        String(seconds),
        String(payload),
      ]);
      const cpu = await server.cpuSeconds() - before;
      return {
        msgs_per_sec: result.msgs_per_sec,
        cpu_us_per_msg: cpu / (result.msgs_per_sec * seconds) * 1e6,
      };
    },
  };
}

/** The engine's echo server as a column of the side-by-side figures. */
function engineSpec(readBuffer: string | undefined): ServerSpec {
  return {
    id: "engine",
    title: "engine (src/transport/websocket)",
    path: "/",
    command: () =>
      Promise.resolve({
        argv: [
          Deno.execPath(),
          "run",
          "--allow-net",
          new URL("websocket_engine/engine_echo.ts", BENCH).pathname,
          "0",
          ...(readBuffer === undefined ? [] : [readBuffer]),
        ],
      }),
    port: (line) => {
      const match = /^listening (\d+)/.exec(line);
      return match ? Number(match[1]) : undefined;
    },
  };
}

/** Runs the comparison; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        runs: { type: "string", default: "5" },
        seconds: { type: "string", default: "5" },
        figures: { type: "string", default: "echo_cpu,memory_10000,memory_19000,latency" },
        payload: { type: "string", default: "64" },
        "read-buffer": { type: "string" },
        servers: { type: "string", default: "deno,engine" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(flags.runs), seconds = Number(flags.seconds);
  const payload = Number(flags.payload);
  if ([runs, seconds, payload].some((value) => !Number.isInteger(value) || value < 1)) {
    console.error(`--runs, --seconds and --payload must be positive integers\n\n${USAGE}`);
    return 2;
  }
  const wanted = flags.figures.split(",");
  const figures = [echoCpuFigure(seconds, payload), ...compareFigures(seconds, 60)]
    .filter((figure) => wanted.includes(figure.id));
  const unknown = wanted.filter((id) => !figures.some((figure) => figure.id === id));
  if (unknown.length > 0) {
    console.error(`Unknown figure ${unknown.join(", ")}\n\n${USAGE}`);
    return 2;
  }
  const all = [...SERVERS, engineSpec(flags["read-buffer"])];
  const servers = flags.servers.split(",").map((id) => all.find((spec) => spec.id === id));
  if (servers.some((spec) => spec === undefined)) {
    console.error(`Unknown server in ${flags.servers}\n\n${USAGE}`);
    return 2;
  }
  const started = new Date();
  const results = await runCompare(
    figures,
    servers as ServerSpec[],
    runs,
    (line) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`),
  );
  const [base, ...others] = servers as ServerSpec[];
  console.log(
    `\n${started.toISOString()} to ${new Date().toISOString()}, ${runs} rounds, ${seconds} s` +
      ` runs, Deno ${Deno.version.deno}\n`,
  );
  console.log(
    `| figure | round | ${servers.map((s) => s!.id).join(" | ")} | ${
      others.map((s) => `${s.id} ÷ ${base.id}`).join(" | ")
    } |`,
  );
  console.log(
    `|---|---:|${servers.map(() => "---:").join("|")}|${others.map(() => "---:").join("|")}|`,
  );
  for (const [key, byServer] of results) {
    const ratios: number[][] = others.map(() => []);
    for (let round = 0; round < runs; round++) {
      const values = servers.map((s) => byServer.get(s!.id)?.[round]);
      const row = others.map((s, i) => {
        const ratio = (byServer.get(s.id)?.[round] ?? NaN) / (values[0] ?? NaN);
        ratios[i].push(ratio);
        return ratio.toFixed(2);
      });
      console.log(
        `| ${key} | ${round + 1} | ${values.map((v) => v?.toFixed(2) ?? "–").join(" | ")} | ${
          row.join(" | ")
        } |`,
      );
    }
    const medians = ratios.map((r) => median(r).toFixed(2));
    console.log(
      `| ${key} | median | ${servers.map(() => "").join(" | ")} | ${medians.join(" | ")} |`,
    );
  }
  return 0;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
