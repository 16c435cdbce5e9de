/** Runs `main.ts` as a child process, the way operators run it, and reads its JSON logs. */
import { denoRunArgs } from "../src/config/deno_run.ts";
import { within } from "./_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The flags of the `gateway` task in deno.json, so tests run the gateway as users do. */
const RUN_FLAGS: string[] = denoRunArgs("gateway");

/** A gateway child process. */
export class GatewayProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #lines: Record<string, unknown>[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #stderrDone: Promise<void>;
  readonly status: Promise<Deno.CommandStatus>;
  /** The process id (of the gateway itself: a prefix such as `prlimit` execs it). */
  readonly pid: number;

  /** Starts `main.ts` with `args`, optionally under a command prefix such as `prlimit`. */
  constructor(args: string[], options: { prefix?: string[]; env?: Record<string, string> } = {}) {
    const prefix = options.prefix ?? [];
    const argv = [...prefix, Deno.execPath(), ...RUN_FLAGS, MAIN, ...args];
    this.#child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: options.env,
    }).spawn();
    this.status = this.#child.status;
    this.pid = this.#child.pid;
    this.#stderrDone = this.#readLogs();
  }

  async #readLogs(): Promise<void> {
    let pending = "";
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.#lines.push(JSON.parse(line));
        } catch {
          this.#lines.push({ text: line });
        }
        for (const waiter of this.#waiters.splice(0)) waiter();
      }
    }
  }

  /** Log lines so far, parsed. */
  get lines(): readonly Record<string, unknown>[] {
    return this.#lines;
  }

  /** Waits for a log line whose `msg` is `msg` (and that `match` accepts, if given). */
  async waitForLog(
    msg: string,
    timeoutMs = 10_000,
    match: (line: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    const find = () => this.#lines.find((line) => line.msg === msg && match(line));
    return await within(
      (async () => {
        while (!find()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
        return find()!;
      })(),
      timeoutMs,
      `log line "${msg}"`,
    );
  }

  /** The WebSocket and metrics ports, once the gateway logged them. */
  async ports(): Promise<{ websocket: number; metrics: number }> {
    const ws = await this.waitForLog("websocket listening");
    const metrics = await this.waitForLog("metrics listening");
    return {
      websocket: Number(new URL(String(ws.url)).port),
      metrics: Number(new URL(String(metrics.url)).port),
    };
  }

  /** Sends a signal to the process. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** Kills the process if still running and waits for it and its log stream. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.status;
    await this.#stderrDone;
  }
}

/** Runs `main.ts` to completion and returns its exit code, stdout and stderr. */
export async function runGateway(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** WebSocket and metrics on 127.0.0.1 port 0: the base of most configs a test gateway runs. */
export const LOOPBACK_CONFIG = {
  websocket: { host: "127.0.0.1", port: 0 },
  metrics: { host: "127.0.0.1", port: 0 },
} as const;

/** A temporary config file for `--config`, removed on dispose. */
export interface TempConfigFile extends AsyncDisposable {
  /** Where the file is. */
  readonly path: string;
}

/** Writes `config` (as JSON, or a string as it is) to a temporary `.json` file. */
export async function tempConfigFile(
  config: Record<string, unknown> | string,
): Promise<TempConfigFile> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, typeof config === "string" ? config : JSON.stringify(config));
  } catch (error) {
    await Deno.remove(path);
    throw error;
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path) };
}
