/**
 * How each program runs under Deno, from one source: the tasks and permission sets in
 * `deno.json`. Processes that start others (the worker supervisor, the load test's shares,
 * tests and benchmarks) take their `deno run` flags from here instead of repeating them.
 *
 * @module
 */

/** The `deno.json` of this checkout. */
export const DENO_JSON: URL = new URL("../../deno.json", import.meta.url);

/** Tasks whose `deno run` flags other processes reuse. */
export type RunTask = "gateway" | "service" | "ws-client" | "load-test";

/**
 * The `deno run` arguments of `task` up to (not including) its script, plus `--config` so the
 * child finds the permission sets wherever its working directory is: e.g. `["run", "-q",
 * "-P=gateway", "--v8-flags=...", "--config=/path/deno.json"]`.
 *
 * @throws {TypeError} when deno.json has no such `deno run` task.
 */
export function denoRunArgs(task: RunTask): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(DENO_JSON)).tasks as Record<string, string>;
  const words = String(tasks[task] ?? "").split(/\s+/);
  const run = words.indexOf("run");
  const script = words.findIndex((word, i) => i > run && /\.ts$/.test(word));
  if (words[0] !== "deno" || run !== 1 || script < 0) {
    throw new TypeError(
      `Cannot read task "${task}" of deno.json: expected "deno run ... <script>.ts"`,
    );
  }
  return [...words.slice(run, script), `--config=${decodeURIComponent(DENO_JSON.pathname)}`];
}
