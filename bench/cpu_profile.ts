/**
 * Where the gateway's echo path spends its CPU (issue 18): runs one gateway with `--cpu-prof`
 * pinned to core 0 under the Bun driver's echo load (1,000 sessions, 64-byte data) on core 1,
 * as fast as they go or at the latency figure's fixed rate (`--rate 20000`),
 * stops it with SIGTERM so it writes the profile, and prints the functions with the most self
 * time, the gateway's own functions with the most total time, and the share of each kind of
 * code (ours, npm packages, Deno's runtime, V8's garbage collector). Or summarises a
 * `.cpuprofile` written before.
 *
 * Usage: deno run -A bench/cpu_profile.ts [--seconds 5] [--rate 0] [--engine gateway] [--top 25]
 *        deno run -A bench/cpu_profile.ts --summarise <file.cpuprofile>
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { gatewayRunFlags, writeBenchConfig } from "./_processes.ts";

const USAGE = `Usage: deno run -A bench/cpu_profile.ts [options]

Profiles the gateway under the echo load and prints where its CPU time goes.

Options:
  --seconds <s>          how long the driver echoes (default: 5)
  --rate <msgs/s>        echo at this fixed rate, as the latency figure does (20000 there);
                         0: as fast as the sessions go (default: 0)
  --engine <name>        websocket.engine of the gateway: gateway or deno (default: gateway)
  --top <n>              functions listed (default: 25)
  --keep <dir>           keep the .cpuprofile in this directory (for Chrome DevTools)
  --summarise <file>     only summarise this .cpuprofile
  -h, --help             show this help`;

/** One node of a V8 CPU profile (the `.cpuprofile` JSON). */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

/** A V8 CPU profile. */
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** What kind of code a frame is: the gateway's, an npm package's, the runtime's, or V8's own. */
function codeKind(url: string, name: string): string {
  if (url === "") {
    if (name === "(garbage collector)") return "garbage collector";
    if (name === "(idle)") return "idle";
    if (name === "(program)") return "V8 and native (program)";
    return "native builtins";
  }
  if (url.includes("/node_modules/") || url.startsWith("npm:")) return "npm packages";
  if (url.startsWith("ext:") || url.startsWith("node:")) return "Deno runtime (ext:)";
  if (url.includes("/src/") || url.includes("/main.ts")) return "gateway (src/)";
  return "other";
}

/** A short location: the path from `src/` (or the url) with the 1-based line. */
function where(url: string, line: number): string {
  const at = url.lastIndexOf("/src/");
  const path = at >= 0 ? url.slice(at + 1) : url.replace(/^file:\/\/.*\/node_modules\//, "npm/");
  return path === "" ? "" : `${path}:${line + 1}`;
}

/** The summary of a profile, as text lines. */
function summarise(profile: CpuProfile, top: number): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from the samples and their time deltas (µs).
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === "(idle)")
    .reduce((sum, [, us]) => sum + us, 0);
  const busy = total - idle;
  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"} ${
      where(n.callFrame.url, n.callFrame.lineNumber)
    }`;

  const selfByFunction = new Map<string, { us: number; kind: string }>();
  const byKind = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const kind = codeKind(node.callFrame.url, node.callFrame.functionName);
    const entry = selfByFunction.get(key(node)) ?? { us: 0, kind };
    entry.us += us;
    selfByFunction.set(key(node), entry);
    byKind.set(kind, (byKind.get(kind) ?? 0) + us);
  }

  // Total (inclusive) time per gateway function: each node's subtree, counted once per stack.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)!;
      if (codeKind(node.callFrame.url, node.callFrame.functionName) !== "gateway (src/)") continue;
      const k = key(node);
      if (seen.has(k)) continue; // recursion: count a function once per sample
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }

  const pct = (us: number) => `${(us / busy * 100).toFixed(1)}%`.padStart(6);
  const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`.padStart(9);
  return [
    `Profile: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy ` +
    `(${(idle / 1e6).toFixed(2)} s idle); shares below are of the busy time.`,
    ``,
    `By kind of code (self time):`,
    ...[...byKind].filter(([kind]) => kind !== "idle").sort((a, b) => b[1] - a[1])
      .map(([kind, us]) => `  ${pct(us)} ${ms(us)}  ${kind}`),
    ``,
    `Top ${top} functions by self time:`,
    ...[...selfByFunction].filter(([, e]) => e.kind !== "idle").sort((a, b) => b[1].us - a[1].us)
      .slice(0, top).map(([k, e]) => `  ${pct(e.us)} ${ms(e.us)}  ${k}  [${e.kind}]`),
    ``,
    `Top ${top} gateway functions by total time (self and what they call):`,
    ...[...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([k, us]) => `  ${pct(us)} ${ms(us)}  ${k}`),
  ];
}

/** Runs the gateway with `--cpu-prof` under the echo load; returns the profile's path. */
async function profileEcho(
  seconds: number,
  rate: number,
  engine: string,
  dir: string,
): Promise<string> {
  const config = await writeBenchConfig({ websocket: { engine } });
  const [run, ...flags] = gatewayRunFlags();
  const gateway = new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      Deno.execPath(),
      run,
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      ...flags,
      new URL("../main.ts", import.meta.url).pathname,
      "--config",
      config,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const reader = gateway.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let log = "";
    let port: number | undefined;
    while (port === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`The gateway exited before it listened:\n${log.slice(-2000)}`);
      log += value;
      const line = log.split("\n").find((l) => l.includes('"websocket listening"'));
      if (line) port = Number(new URL(JSON.parse(line).url).port);
    }
    (async () => {
      while (!(await reader.read()).done);
    })().catch(() => {});
    const out = await new Deno.Command("taskset", {
      args: [
        "-c",
        "1",
        "bun",
        new URL("driver.mjs", import.meta.url).pathname,
        rate === 0 ? "throughput" : "latency",
        `ws://127.0.0.1:${port}/ws`,
        "1000",
        String(seconds),
        "64",
        ...(rate === 0 ? [] : [String(rate), "0"]),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    console.error(`driver: ${new TextDecoder().decode(out.stdout).trim()}`);
    gateway.kill("SIGTERM");
    await gateway.status;
  } finally {
    try {
      gateway.kill("SIGKILL");
    } catch {
      // exited
    }
    await gateway.status;
    await Deno.remove(config);
  }
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".cpuprofile")) return `${dir}/${entry.name}`;
  }
  throw new Error(`The gateway wrote no .cpuprofile into ${dir}`);
}

async function main(args: string[]): Promise<number> {
  let flags, seconds, rate, top;
  try {
    flags = parseCliArgs(args, {
      seconds: { type: "string" },
      rate: { type: "string" },
      engine: { type: "string", default: "gateway" },
      top: { type: "string" },
      keep: { type: "string" },
      summarise: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    seconds = intFlag("seconds", flags.seconds, 5, 1, 600);
    rate = intFlag("rate", flags.rate, 0, 0, 1_000_000);
    top = intFlag("top", flags.top, 25, 1, 500);
    if (!["gateway", "deno"].includes(flags.engine)) {
      throw new UsageError(`Invalid value for --engine: "${flags.engine}" is not gateway or deno`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  let path = flags.summarise;
  if (path === undefined) {
    const dir = flags.keep ?? await Deno.makeTempDir({ prefix: "cpu_profile_" });
    await Deno.mkdir(dir, { recursive: true });
    path = await profileEcho(seconds, rate, flags.engine, dir);
    if (flags.keep === undefined) {
      const lines = summarise(JSON.parse(await Deno.readTextFile(path)), top);
      await Deno.remove(dir, { recursive: true });
      console.log(lines.join("\n"));
      return 0;
    }
    console.error(`Profile kept: ${path}`);
  }
  console.log(summarise(JSON.parse(await Deno.readTextFile(path)), top).join("\n"));
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
