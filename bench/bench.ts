/**
 * `deno task bench`: runs every figure several times on this machine, then writes
 * bench/results/latest.md and latest.json with the machine, the date, the median and the spread.
 *
 * Usage: deno task bench [--runs 3] [--seconds 5] [--only <figure id>]
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { clusterFigures, type Figure } from "./cluster.ts";
import { compareFigures, type CompareResults, runCompare, SERVERS } from "./compare.ts";
import { sweepFigure } from "./sweep.ts";

const USAGE =
  `Usage: deno task bench [--suite <name>] [--runs <n>] [--seconds <s>] [--only <figure id>]

Runs the benchmark figures and writes bench/results/latest.md and latest.json.

Options:
  --suite <name>          all (default), compare (gateway vs bare Deno, Node/ws, Bun),
                          cluster (fan-out and service round trips), sweep, quic
  --runs <n>              runs per figure; the median is reported (default: 3)
  --seconds <s>           measuring time per throughput/latency run (default: 5)
  --heartbeat-seconds <s> how long the heartbeat CPU figure watches (default: 60)
  --only <id>             run one figure (e.g. fanout_one_node, latency)
  -h, --help              show this help

Needs bun and node on PATH for the compare suite, nats-server for cluster, taskset.`;

const SUITES = ["all", "compare", "cluster", "sweep", "quic"];

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
    node: await command("node", ["--version"]),
    bun: await command("bun", ["--version"]),
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
  let runs, seconds, heartbeatSeconds, only, suite;
  try {
    const flags = parseCliArgs(args, {
      suite: { type: "string", default: "all" },
      runs: { type: "string" },
      seconds: { type: "string" },
      "heartbeat-seconds": { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    runs = intFlag("runs", flags.runs, 3, 1, 50);
    seconds = intFlag("seconds", flags.seconds, 5, 1, 600);
    heartbeatSeconds = intFlag("heartbeat-seconds", flags["heartbeat-seconds"], 60, 1, 3600);
    only = flags.only;
    suite = flags.suite;
    if (!SUITES.includes(suite)) {
      throw new UsageError(
        `Invalid value for --suite: "${suite}" is not one of ${SUITES.join(", ")}`,
      );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const wants = (name: string) => suite === "all" || suite === name;
  const figures: Figure[] = [
    ...(wants("sweep") ? [sweepFigure(20_000)] : []),
    ...(wants("cluster") ? clusterFigures({ members: 1000, ms: seconds * 1000, clients: 50 }) : []),
  ].filter((f) => !only || f.id === only);
  const compare = wants("compare")
    ? compareFigures(seconds, heartbeatSeconds).filter((f) => !only || f.id === only)
    : [];
  if (figures.length === 0 && compare.length === 0 && !wants("quic")) {
    console.error(`No figure "${only}" in suite ${suite}\n\n${USAGE}`);
    return 2;
  }
  const info = await machine();
  const log = (line: string) => console.error(line);

  let compared: CompareResults = new Map();
  if (compare.length > 0) compared = await runCompare(compare, SERVERS, runs, log);

  const results = [];
  for (const figure of figures) {
    const values: number[] = [];
    for (let i = 0; i < runs; i++) {
      const value = await figure.run();
      values.push(Math.round(value));
      log(`${figure.id} run ${i + 1}/${runs}: ${Math.round(value)} ${figure.unit}`);
    }
    results.push({ id: figure.id, title: figure.title, unit: figure.unit, ...summary(values) });
  }

  if (wants("quic")) {
    const quic = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", new URL("./quic_engines.ts", import.meta.url).pathname],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!quic.success) log("quic_engines.ts failed; see its output above");
  }

  const compareRows = compare.flatMap((figure) =>
    figure.rows.map((row) => {
      const byServer = compared.get(`${figure.id}.${row.key}`)!;
      return {
        id: `${figure.id}.${row.key}`,
        title: row.title,
        unit: row.unit,
        higher_is_better: row.higherIsBetter,
        ratio_to: row.ratioTo ? `${figure.id}.${row.ratioTo}` : undefined,
        no_ratio: row.noRatio ?? false,
        servers: Object.fromEntries([...byServer].map(([id, values]) => [id, summary(values)])),
      };
    })
  );

  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    new URL("latest.json", dir),
    JSON.stringify(
      { machine: info, runs, seconds, compare: compareRows, figures: results },
      null,
      2,
    ) + "\n",
  );
  const fmt = (n: number) => n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(2);
  const cell = (s?: { median: number; min: number; max: number }) =>
    s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : "–";
  // Runs are paired by round (each round runs every server once, back to back), so a ratio is
  // the median of the rounds' ratios: a slow spell of the machine cancels out of each pair.
  const ratio = (a?: { runs: number[] }, b?: { runs: number[] }) =>
    a && b && a.runs.length === b.runs.length && b.runs.every((v) => v > 0)
      ? median(a.runs.map((v, i) => v / b.runs[i])).toFixed(2)
      : "–";
  const lines = [
    `# Benchmark results`,
    ``,
    `${info.date}: ${info.cpu}, ${info.cores} cores, ${info.memory_gib} GiB, Linux ${info.kernel}, Deno ${info.deno}, Node ${info.node}, Bun ${info.bun}, ${info.nats_server}.`,
    `${runs} runs per figure; median with (min–max). Command: \`deno task bench ${
      args.join(" ")
    }\`.`,
    ``,
  ];
  if (compareRows.length > 0) {
    lines.push(
      `## Side by side`,
      ``,
      `Each server runs alone, pinned to core 0; the Bun-run driver (bench/driver.mjs) is pinned to core 1. Each round runs every server once, in turn; a ratio is the median of the rounds' ratios. Every server echoes the same message: a gateway \`echo\` request with 64 bytes of data (bare servers send it back as is; the gateway answers with a \`response\` envelope). A fifth server, for the echo rows only, is bare Deno that decodes each request envelope and encodes a response envelope (bench/servers/deno_envelope.ts): the protocol's own cost without sessions, heartbeat or metrics. For the fan-out rows every server runs the chat service's \`chat.join\` and \`chat.say\` (bench/servers/_chat_rooms.mjs for the bare servers; the gateway's bundled chat service). The gateway runs its default config but on loopback with \`max_connections\` 20,000, with the \`deno task gateway\` flags.`,
      ``,
      `| figure | unit | ${
        SERVERS.map((s) => s.title).join(" | ")
      } | gateway ÷ bare Deno | gateway ÷ Node/ws |`,
      `| --- | --- | ${SERVERS.map(() => "---:").join(" | ")} | ---: | ---: |`,
      ...compareRows.map((r) => {
        const others = r.no_ratio
          ? {}
          : compareRows.find((row) => row.id === r.ratio_to)?.servers ?? r.servers;
        return `| ${r.title} | ${r.unit} | ${
          SERVERS.map((s) => cell(r.servers[s.id])).join(" | ")
        } | ${ratio(r.servers.gateway, others.deno)} | ${
          ratio(r.servers.gateway, others.node_ws)
        } |`;
      }),
      ``,
    );
  }
  if (results.length > 0) {
    lines.push(
      `## Gateway figures`,
      ``,
      `Cluster figures run every process (gateways, nats-server, service process, driver with its WebSocket clients) on the same cores, on loopback.`,
      ``,
      `| figure | median | min–max | unit |`,
      `| --- | ---: | ---: | --- |`,
      ...results.map((r) =>
        `| ${r.title} | ${fmt(r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${r.unit} |`
      ),
      ``,
    );
  }
  if (wants("quic")) lines.push(`QUIC engines: see [quic_engines.md](quic_engines.md).`, ``);
  const table = lines.join("\n");
  await Deno.writeTextFile(new URL("latest.md", dir), table);
  console.log(table);
  return 0;
}

function summary(values: number[]) {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    runs: values,
  };
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
