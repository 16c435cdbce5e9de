/** Runs Debian's `nats-server` for tests, on a random loopback port it reports back. */
import { within } from "./_helpers.ts";

/** A nats-server child process. */
export class NatsServer implements AsyncDisposable {
  #child: Deno.ChildProcess | undefined;
  #port = 0;

  /** The `nats://` URL clients use. */
  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  /** Starts the server; on a random port the first time, on the same port after a stop. */
  async start(): Promise<void> {
    const child = new Deno.Command("nats-server", {
      args: ["-a", "127.0.0.1", "-p", String(this.#port || -1)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let log = "";
    await within(
      (async () => {
        while (!/Server is ready/.test(log)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`nats-server exited:\n${log}`);
          log += value;
        }
      })(),
      10_000,
      "nats-server to start",
    );
    this.#port = Number(/client connections on [\d.]+:(\d+)/.exec(log)![1]);
    // Keep draining stderr so the server never blocks on a full pipe.
    (async () => {
      while (!(await reader.read()).done);
    })();
  }

  /** Kills the server at once, as a crash would. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    child.kill("SIGKILL");
    await child.status;
  }

  /** Stops the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }
}
