/** Runs a tool under `tools/` as a subprocess, so tests see its real exit code and output. */
import { denoRunArgs } from "../src/config/deno_run.ts";

/** What a finished tool run printed and returned. */
export interface ToolResult {
  /** Exit code. */
  code: number;
  /** Everything printed on stdout. */
  stdout: string;
  /** Everything printed on stderr. */
  stderr: string;
}

const ROOT = new URL("../", import.meta.url);

/**
 * Runs `tools/<tool>.ts` with `args`, feeding it `stdin` if given, and kills it after
 * `timeoutMs` so a hanging tool fails the test instead of stalling it.
 */
export async function runTool(
  tool: "ws_client" | "load_test",
  args: string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<ToolResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...denoRunArgs(tool === "ws_client" ? "ws-client" : "load-test"),
      new URL(`tools/${tool}.ts`, ROOT).pathname,
      ...args,
    ],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
