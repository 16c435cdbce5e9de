/**
 * `deno task bench`: runs every figure several times on this machine, then writes
 * bench/results/latest.md and latest.json with the machine, the date, the median and the spread,
 * and the same under the run's date (bench/results/<YYYY-MM-DD>.md and .json, with the UTC time
 * added when that date has a run already) so the trend stays.
 *
 * Usage: deno task bench [--suite all] [--runs 3] [--seconds 5] [--only <figure id>]
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { removeBenchTokenFile } from "./_tokens.ts";
import { clusterFigures, type Figure } from "./cluster.ts";
import { compareFigures, type CompareResults, runCompare, SERVERS } from "./compare.ts";
import { FAIRNESS_VARIANTS, type FairnessRun, PING_INTERVAL_MS, runFairness } from "./fairness.ts";
import { sweepFigure } from "./sweep.ts";

const USAGE =
  `Usage: deno task bench [--suite <name>] [--runs <n>] [--seconds <s>] [--only <figure id>]

Runs the benchmark figures and writes bench/results/latest.md and latest.json, and a copy
named by the date (bench/results/<YYYY-MM-DD>.md and .json; a later run of the same date
adds the UTC time: <YYYY-MM-DD>T<HHMM>.md), so earlier runs stay.

Suites:
  all        every suite below (default)
  compare    side by side: the gateway on its own WebSocket engine and on Deno's, next to bare
             Deno, Node/ws and Bun (sessions/s, memory per idle session, echo throughput,
             latency, chat fan-out, heartbeat CPU); in the same rounds, the feature costs: echo
             throughput and p99 with every feature off, then auth (JWT), resume (hello) and the
             default rate limits on one at a time, and all of them, plus memory per idle session
             at 19,000 with every feature on
  features   a shorter compare: only the feature costs and the two engines' echo, latency and
             memory-at-19,000 rows
  fairness   one session floods echo while another pings every ${PING_INTERVAL_MS} ms: the victim's
             ping p50/p99 idle and flooded, per engine, rate limits on and off (bench/fairness.ts)
  resume     resumes/s, replay time and heap per detached session, empty and with a full
             default buffer (bench/resume.ts)
  cluster    fan-out and service round trips; sweep: one heartbeat sweep; quic: QUIC engines

Where the gateway's CPU goes per message is not a suite: deno run -A bench/cpu_profile.ts.

Options:
  --suite <name>          one of the suites above (default: all)
  --runs <n>              runs per figure; the median is reported (default: 3)
  --seconds <s>           measuring time per throughput/latency run (default: 5)
  --heartbeat-seconds <s> how long the heartbeat CPU figure watches (default: 60)
  --only <id>             run one figure (e.g. fanout_one_node, latency); fairness, resume
                          and the QUIC engines are left out
  -h, --help              show this help

Needs bun and node on PATH for the compare suite, nats-server for cluster, taskset.`;

const SUITES = ["all", "compare", "features", "fairness", "resume", "cluster", "sweep", "quic"];

/** The figures of the `features` suite: the feature costs and the engines' echo rows. */
const FEATURE_SUITE_FIGURES = ["echo_throughput", "latency", "memory_19000"];

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
  const compare = wants("compare") || suite === "features"
    ? compareFigures(seconds, heartbeatSeconds).filter((f) =>
      (!only || f.id === only) && (suite !== "features" || FEATURE_SUITE_FIGURES.includes(f.id))
    )
    : [];
  // The features suite runs the feature variants and the gateway on each engine only.
  const servers = suite === "features"
    ? SERVERS.filter((s) => s.table === "features" || s.id.startsWith("gateway"))
    : SERVERS;
  const sideServers = servers.filter((s) => s.table !== "features");
  if (
    figures.length === 0 && compare.length === 0 &&
    !["quic", "fairness", "resume"].some((name) => wants(name))
  ) {
    console.error(`No figure "${only}" in suite ${suite}\n\n${USAGE}`);
    return 2;
  }
  const info = await machine();
  const log = (line: string) => console.error(line);

  let compared: CompareResults = new Map();
  try {
    if (compare.length > 0) compared = await runCompare(compare, servers, runs, log);
  } finally {
    await removeBenchTokenFile();
  }

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

  const fairness = wants("fairness") && !only
    ? await runFairness(runs, seconds, log)
    : new Map<string, FairnessRun[]>();
  const resume = wants("resume") && !only ? await runResume(log) : undefined;
  // The QUIC engines write their own page; `--only` names one figure, so they stay out of it.
  const quic = wants("quic") && !only;

  if (quic) {
    const engines = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", new URL("./quic_engines.ts", import.meta.url).pathname],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!engines.success) log("quic_engines.ts failed; see its output above");
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
  const serversOf = (id: string) => compareRows.find((r) => r.id === id)?.servers ?? {};
  const onOff = (byServer: Record<string, Summary>, off: string, on: string) => ({
    off: byServer[off],
    on: byServer[on],
    ratio: pairedRatio(byServer[on], byServer[off]),
  });
  const featureRows = FEATURE_COSTS.map((cost) => ({
    ...cost,
    echo_msgs_per_sec: onOff(serversOf("echo_throughput.msgs_per_sec"), cost.off, cost.on),
    p99_ms: onOff(serversOf("latency.p99_ms"), cost.off, cost.on),
  })).filter((r) => r.echo_msgs_per_sec.off && r.echo_msgs_per_sec.on);
  // Memory with every feature on, against the default config (no session logged in or resumable).
  const featureMemory = onOff(serversOf("memory_19000.kb"), "gateway", "all_on");
  const fairnessRows = FAIRNESS_VARIANTS.filter((v) => fairness.get(v.id)?.length).map((v) => {
    const runsOf = fairness.get(v.id)!;
    type Key =
      | "idle_p50_ms"
      | "idle_p99_ms"
      | "flood_p50_ms"
      | "flood_p99_ms"
      | "reconnecting_p50_ms"
      | "reconnecting_p99_ms";
    const of = (key: Key) => summary(runsOf.map((r) => r[key]));
    return {
      id: v.id,
      title: v.title,
      idle_p50_ms: of("idle_p50_ms"),
      idle_p99_ms: of("idle_p99_ms"),
      flood_p50_ms: of("flood_p50_ms"),
      flood_p99_ms: of("flood_p99_ms"),
      p99_flood_to_idle: median(runsOf.map((r) => r.flood_p99_ms / r.idle_p99_ms)),
      reconnecting_p99_ms: of("reconnecting_p99_ms"),
      p99_reconnecting_to_idle: median(runsOf.map((r) => r.reconnecting_p99_ms / r.idle_p99_ms)),
      runs: runsOf,
    };
  });

  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const json = JSON.stringify(
    {
      machine: info,
      runs,
      seconds,
      compare: compareRows,
      features: featureRows,
      feature_memory_19000_kb: featureMemory,
      fairness: fairnessRows,
      resume,
      figures: results,
    },
    null,
    2,
  ) + "\n";
  const fmt = (n: number) => n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(2);
  const cell = (s?: { median: number; min: number; max: number }) =>
    s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : "–";
  const ratio = (a?: Summary, b?: Summary) => {
    const value = pairedRatio(a, b);
    return value === undefined ? "–" : value.toFixed(2);
  };
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
      `Each server runs alone, pinned to core 0; the Bun-run driver (bench/driver.mjs) is pinned to core 1. Each round runs every server once, in turn; a ratio is the median of the rounds' ratios. Every server echoes the same message: a gateway \`echo\` request with 64 bytes of data (bare servers send it back as is; the gateway answers with a \`response\` envelope). A server, for the echo rows only, is bare Deno that decodes each request envelope and encodes a response envelope (bench/servers/deno_envelope.ts): the protocol's own cost without sessions, heartbeat or metrics. For the fan-out rows every server runs the chat service's \`chat.join\` and \`chat.say\` (bench/servers/_chat_rooms.mjs for the bare servers; the gateway's bundled chat service). The gateway runs its default config but on loopback with \`max_connections\` 20,000, with the \`deno task gateway\` flags, once with each WebSocket engine (\`websocket.engine\`: \`gateway\`, its own RFC 6455 framing, and \`deno\`, \`Deno.upgradeWebSocket\`; the second only in the sessions/s, memory at 19,000, echo and latency rows).`,
      ``,
      `| figure | unit | ${
        sideServers.map((s) => s.title).join(" | ")
      } | gateway ÷ bare Deno | gateway (Deno engine) ÷ bare Deno | gateway ÷ Node/ws |`,
      `| --- | --- | ${sideServers.map(() => "---:").join(" | ")} | ---: | ---: | ---: |`,
      ...compareRows.map((r) => {
        const others = r.no_ratio
          ? {}
          : compareRows.find((row) => row.id === r.ratio_to)?.servers ?? r.servers;
        return `| ${r.title} | ${r.unit} | ${
          sideServers.map((s) => cell(r.servers[s.id])).join(" | ")
        } | ${ratio(r.servers.gateway, others.deno)} | ${
          ratio(r.servers.gateway_deno, others.deno)
        } | ${ratio(r.servers.gateway, others.node_ws)} |`;
      }),
      ``,
    );
  }
  if (featureRows.length > 0) {
    lines.push(
      `## Feature costs`,
      ``,
      `In the same rounds as the side-by-side echo rows, the gateway on its own engine with one feature at a time turned on over a config with every feature off (\`session.resume_window_sec\` 0, \`limits.messages_per_sec\` 0, no auth): auth is \`auth.mode: "jwt"\` with an HS256 secret, every driver socket logging in first; resume is \`resume_window_sec\` 30 with every driver socket sending \`hello\` (a session is resumable only once it has asked for a token, docs/protocol.md, Resume), so each reply carries a \`seq\` and is kept for a replay; rate limits are the defaults (200 messages/s per session, burst 400), which the echo figure's 1,000 sessions (one request in flight each) reach on average only above 200,000 msgs/s; a few sessions run faster than the rest, so the echo figure counts echoes only (a \`rate_limited\` reply is not one) and a run fails when more than 1% of its replies were refused. Slow-consumer accounting has no switch: the last row is the gateway's own engine (framing and outbound accounting) against Deno's engine, both with the default config. A ratio is the median of the rounds' on ÷ off. Memory: the default config (no session logged in or resumable) against every feature on, 19,000 idle sessions.`,
      ``,
      `| feature | off | on | echo msgs/s off | echo msgs/s on | on ÷ off | p99 ms off | p99 ms on | on ÷ off |`,
      `| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
      ...featureRows.map((r) =>
        `| ${r.feature} | ${r.off} | ${r.on} | ${cell(r.echo_msgs_per_sec.off)} | ${
          cell(r.echo_msgs_per_sec.on)
        } | ${ratio(r.echo_msgs_per_sec.on, r.echo_msgs_per_sec.off)} | ${cell(r.p99_ms.off)} | ${
          cell(r.p99_ms.on)
        } | ${ratio(r.p99_ms.on, r.p99_ms.off)} |`
      ),
      ``,
    );
  }
  if (featureMemory.on) {
    lines.push(
      `Memory per idle session at 19,000: ${
        cell(featureMemory.off)
      } KB with the default config (no session logged in or resumable), ${
        cell(featureMemory.on)
      } KB with every feature on (each session logged in with a JWT, so resumable, rate limits on); on ÷ off ${
        ratio(featureMemory.on, featureMemory.off)
      }.`,
      ``,
    );
  }
  if (fairnessRows.length > 0) {
    lines.push(
      `## Fairness`,
      ``,
      `One gateway on core 0 (default config but for the engine and rate limits). A victim session pings every ${PING_INTERVAL_MS} ms for ${seconds} s (its first second not kept) while the gateway is idle; then again while another session floods echo requests (64-byte data) as fast as its socket takes them: a raw TCP client that writes pre-masked frames in 64 KB writes and reads the replies only to drop them. That is issue 17's case: one session, and the flooded p99 within 2× of the idle one. Then once more with a flooder that connects again 10 ms after the gateway closes it (a rate-limit close), as a determined client would. Flooder and victim share core 1, the flooder at \`nice\` 10 (bench/fairness.ts). A ping still unanswered 5 s after the last counts with its age then (a lower bound); "pings unanswered" sums them over the runs and the three phases. A ratio is the median of the runs' ratios.`,
      ``,
      `| gateway | idle p50 ms | idle p99 ms | flooded p50 ms | flooded p99 ms | p99 flooded ÷ idle | flooder closed with | reconnecting flooder: p99 ms | p99 ÷ idle | its connections | pings unanswered |`,
      `| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |`,
      ...fairnessRows.map((r) =>
        `| ${r.title} | ${cell(r.idle_p50_ms)} | ${cell(r.idle_p99_ms)} | ${
          cell(r.flood_p50_ms)
        } | ${cell(r.flood_p99_ms)} | ${r.p99_flood_to_idle.toFixed(2)} | ${
          closeCodes(r.runs) || "never closed"
        } | ${cell(r.reconnecting_p99_ms)} | ${r.p99_reconnecting_to_idle.toFixed(2)} | ${
          median(r.runs.map((run) => run.reconnecting_connections))
        } | ${r.runs.reduce((sum, run) => sum + run.unanswered, 0)} |`
      ),
      ``,
    );
  }
  if (resume) {
    const heap = resume.heap_per_detached_session;
    const kb = (bytes: number) => (bytes / 1024).toFixed(1);
    lines.push(
      `## Resume`,
      ``,
      `bench/resume.ts, in one process over loopback WebSocket (the gateway and its clients share the cores). Heap per detached session: sessions made resumable, each sent messages through the session writer, then detached; weighed by \`heapUsed\` after a GC.`,
      ``,
      `| figure | value |`,
      `| --- | ---: |`,
      `| Resumes per second, ${resume.resumes_per_sec.sessions} sessions at once | ${
        fmt(resume.resumes_per_sec.median)
      } (runs ${resume.resumes_per_sec.runs.map(fmt).join(", ")}) |`,
      `| Reconnect to last replayed message, 100 missed, median / p90 | ${
        resume.replay_100_missed_ms.median.toFixed(2)
      } / ${resume.replay_100_missed_ms.p90.toFixed(2)} ms |`,
      `| Heap per detached session, empty buffer | ${
        kb(heap.empty.heap_bytes_per_detached_session)
      } KB |`,
      `| Heap per detached session, full default buffer (1,024 distinct 256-byte replies; ${
        kb(heap.full_buffer_distinct_replies.buffer_bytes_kept)
      } KB kept) | ${kb(heap.full_buffer_distinct_replies.heap_bytes_per_detached_session)} KB |`,
      `| Heap per detached session, full default buffer of shared group pushes (one text for all) | ${
        kb(heap.full_buffer_shared_group_pushes.heap_bytes_per_detached_session)
      } KB |`,
      ``,
    );
  }
  if (results.length > 0) {
    lines.push(
      `## Gateway figures`,
      ``,
      `Cluster figures run every process (gateways, nats-server, service process, driver with its WebSocket clients) on the same cores, on loopback, with rate limits off (\`limits.messages_per_sec\` 0: one client of a request loop sends thousands a second).`,
      ``,
      `| figure | median | min–max | unit |`,
      `| --- | ---: | ---: | --- |`,
      ...results.map((r) =>
        `| ${r.title} | ${fmt(r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${r.unit} |`
      ),
      ``,
    );
  }
  if (quic) lines.push(`QUIC engines: see [quic_engines.md](quic_engines.md).`, ``);
  const table = lines.join("\n");
  const dated = await runName(info.date, dir);
  const written = [];
  for (const name of ["latest", dated]) {
    await Deno.writeTextFile(new URL(`${name}.json`, dir), json);
    await Deno.writeTextFile(new URL(`${name}.md`, dir), table);
    written.push(new URL(`${name}.md`, dir).pathname, new URL(`${name}.json`, dir).pathname);
  }
  // The QUIC suite writes its own page.
  if (quic) written.push(new URL("quic_engines.md", dir).pathname);
  // As `deno fmt` would lay them out, so `deno task check` passes on committed results.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "-q", ...written],
    cwd: new URL("../", import.meta.url).pathname,
  }).output();
  console.log(table);
  log(`Wrote bench/results/latest.md and ${dated}.md (and .json)`);
  return 0;
}

/**
 * The name of a run's dated copy in `dir`: its date (`2026-12-07`), or, when a run of that date
 * is there already, the date and the UTC time (`2026-12-07T1312`), so no run overwrites another.
 */
export async function runName(isoDate: string, dir: URL): Promise<string> {
  const day = isoDate.slice(0, 10);
  try {
    await Deno.stat(new URL(`${day}.md`, dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return day;
    throw error;
  }
  return `${day}T${isoDate.slice(11, 13)}${isoDate.slice(14, 16)}`;
}

/** One feature-cost row: the variant ids (bench/compare.ts) with the feature off and on. */
const FEATURE_COSTS: { feature: string; off: string; on: string }[] = [
  { feature: "auth (JWT, logged in)", off: "features_off", on: "auth_on" },
  { feature: "resume (seq and replay buffer)", off: "features_off", on: "resume_on" },
  { feature: "rate limits (defaults)", off: "features_off", on: "rate_on" },
  { feature: "every feature on", off: "features_off", on: "all_on" },
  {
    feature: "own engine (framing, slow-consumer accounting) vs Deno's",
    off: "gateway_deno",
    on: "gateway",
  },
];

/** A figure's median, spread and runs (one a round). */
type Summary = ReturnType<typeof summary>;

/**
 * Runs are paired by round (each round runs every server once, back to back), so a ratio is
 * the median of the rounds' ratios: a slow spell of the machine cancels out of each pair.
 */
function pairedRatio(a?: Summary, b?: Summary): number | undefined {
  return a && b && a.runs.length === b.runs.length && b.runs.every((v) => v > 0)
    ? median(a.runs.map((v, i) => v / b.runs[i]))
    : undefined;
}

/** The one-session flooder's close codes over the runs, e.g. "4504 ×3". */
function closeCodes(runs: FairnessRun[]): string {
  const counts: Record<string, number> = {};
  for (const run of runs) {
    for (const [code, n] of Object.entries(run.flood_close_codes)) {
      counts[code] = (counts[code] ?? 0) + n;
    }
  }
  return Object.entries(counts).map(([code, n]) => `${code} ×${n}`).join(", ");
}

/** What bench/resume.ts prints. */
interface ResumeFigures {
  resumes_per_sec: { sessions: number; median: number; runs: number[] };
  replay_100_missed_ms: { median: number; p90: number; max: number; trials: number };
  heap_per_detached_session: Record<
    "empty" | "full_buffer_distinct_replies" | "full_buffer_shared_group_pushes",
    { session_bytes: number; buffer_bytes_kept: number; heap_bytes_per_detached_session: number }
  >;
}

/** Runs bench/resume.ts once with its defaults. */
async function runResume(log: (line: string) => void): Promise<ResumeFigures> {
  log("resume: bench/resume.ts");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("./resume.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`bench/resume.ts failed: ${text}`);
  return JSON.parse(text);
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
