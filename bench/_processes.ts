/** Starting the processes a benchmark measures: gateways, nats-server, service processes. */
import { denoRunArgs } from "../src/config/deno_run.ts";

const ROOT = new URL("../", import.meta.url);

/** The `gateway` task's flags from deno.json, so the benchmark runs what users run. */
export function gatewayRunFlags(): string[] {
  return denoRunArgs("gateway");
}

/** Reads a child's stderr line by line until each matcher, in order, accepts a line. */
async function waitForLines(
  child: Deno.ChildProcess,
  matchers: Array<(line: string) => boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<string[]> {
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const found: string[] = [];
  const deadline = setTimeout(() => reader.cancel(`timed out waiting for ${what}`), timeoutMs);
  try {
    while (found.length < matchers.length) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Gave up waiting for ${what}:\n${log.slice(-2000)}`);
      log += value;
      const lines = log.split("\n");
      found.length = 0;
      for (const match of matchers) {
        const line = lines.find(match);
        if (!line) break;
        found.push(line);
      }
    }
    // Keep draining so the child never blocks on a full pipe.
    (async () => {
      while (!(await reader.read()).done);
    })().catch(() => {});
    return found;
  } finally {
    clearTimeout(deadline);
  }
}

/** A child process that is killed on dispose. */
export class Child implements AsyncDisposable {
  constructor(readonly process: Deno.ChildProcess, readonly info: Record<string, string>) {}
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.process.status;
  }
}

/**
 * Writes a temporary config file: the defaults, but on loopback, port 0, and room for the
 * 19,000-session figures, with `config` on top (its `websocket` fields merged into those).
 * Returns its path; the caller removes it.
 */
export async function writeBenchConfig(config: Record<string, unknown> = {}): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      metrics: { host: "127.0.0.1", port: 0 },
      ...config,
      websocket: {
        host: "127.0.0.1",
        port: 0,
        max_connections: 20_000,
        ...config.websocket as Record<string, unknown> | undefined,
      },
    }),
  );
  return path;
}

/** Starts a gateway process on loopback with `config` on top; returns its ports. */
export async function startGateway(config: Record<string, unknown>): Promise<Child> {
  const path = await writeBenchConfig(config);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...gatewayRunFlags(), new URL("main.ts", ROOT).pathname, "--config", path],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const matchers = [(l: string) => l.includes('"websocket listening"')];
  // In cluster mode, wait until the registry has heard every service process that runs.
  if (config.cluster) matchers.push((l) => l.includes('"cluster registry complete"'));
  const [line] = await waitForLines(child, matchers, "a gateway");
  await Deno.remove(path);
  return new Child(child, { port: new URL(JSON.parse(line).url).port });
}

/** Starts nats-server on a random loopback port. */
export async function startNats(): Promise<Child> {
  const child = new Deno.Command("nats-server", {
    args: ["-a", "127.0.0.1", "-p", "-1"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const [line] = await waitForLines(child, [(l) => /client connections on/.test(l)], "nats-server");
  const port = /:(\d+)\s*$/.exec(line.trim())![1];
  return new Child(child, { url: `nats://127.0.0.1:${port}` });
}

/** Starts a service process serving `module`'s services over NATS. */
export async function startService(module: string, nats: string): Promise<Child> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...denoRunArgs("service"),
      new URL("src/cluster/service_runner.ts", ROOT).pathname,
      module,
      "--nats",
      nats,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await waitForLines(child, [(l) => l.includes('"msg":"serving"')], "a service process");
  return new Child(child, {});
}
