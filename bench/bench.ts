/**
 * `deno task bench`: runs every figure several times on this machine, then writes
 * bench/results/latest.md and latest.json with the machine, the date, the median and the spread.
 *
 * Usage: deno task bench [--runs 3] [--seconds 5] [--only <figure id>]
 */
import { intFlag, parseCliArgs, UsageError } from "../src/cli_args.ts";
import { clusterFigures, type Figure } from "./cluster.ts";
import { sweepFigure } from "./sweep.ts";

const USAGE = `Usage: deno task bench [--runs <n>] [--seconds <s>] [--only <figure id>]

Runs the benchmark figures and writes bench/results/latest.md and latest.json.

Options:
  --runs <n>       runs per figure; the median is reported (default: 3)
  --seconds <s>    measuring time per run (default: 5)
  --only <id>      run one figure (e.g. fanout_one_node)
  -h, --help       show this help`;

async function command(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "unknown";
  }
}

async function machine() {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return {
    date: new Date().toISOString(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memory_gib: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    kernel: await command("uname", ["-r"]),
    deno: Deno.version.deno,
    nats_server: await command("nats-server", ["--version"]),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs the benchmark; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let runs, seconds, only;
  try {
    const flags = parseCliArgs(args, {
      runs: { type: "string" },
      seconds: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    runs = intFlag("runs", flags.runs, 3, 1, 50);
    seconds = intFlag("seconds", flags.seconds, 5, 1, 600);
    only = flags.only;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const figures: Figure[] = [
    sweepFigure(20_000),
    ...clusterFigures({ members: 1000, ms: seconds * 1000, clients: 50 }),
  ].filter((f) => !only || f.id === only);
  if (figures.length === 0) {
    console.error(`No figure "${only}"\n\n${USAGE}`);
    return 2;
  }
  const info = await machine();
  const results = [];
  for (const figure of figures) {
    const values: number[] = [];
    for (let i = 0; i < runs; i++) {
      const value = await figure.run();
      values.push(Math.round(value));
      console.error(`${figure.id} run ${i + 1}/${runs}: ${Math.round(value)} ${figure.unit}`);
    }
    results.push({
      id: figure.id,
      title: figure.title,
      unit: figure.unit,
      median: median(values),
      min: Math.min(...values),
      max: Math.max(...values),
      runs: values,
    });
  }
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    new URL("latest.json", dir),
    JSON.stringify({ machine: info, results }, null, 2) + "\n",
  );
  const table = [
    `# Benchmark results`,
    ``,
    `${info.date} on ${info.cpu}, ${info.cores} cores, ${info.memory_gib} GiB, Linux ${info.kernel}, Deno ${info.deno}, ${info.nats_server}.`,
    `Every process (gateways, nats-server, service process, and the driver with its WebSocket clients) shares these cores, on loopback. ${runs} runs of ${seconds} s per figure; median, with min–max.`,
    ``,
    `| figure | median | min–max | unit |`,
    `| --- | ---: | ---: | --- |`,
    ...results.map((r) => `| ${r.title} | ${r.median} | ${r.min}–${r.max} | ${r.unit} |`),
    ``,
  ].join("\n");
  await Deno.writeTextFile(new URL("latest.md", dir), table);
  console.log(table);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
