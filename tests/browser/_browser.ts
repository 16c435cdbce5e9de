/**
 * The browser tests' handle on headless Chromium: starts the driver process
 * (`_browser_driver.ts`), opens pages and evaluates code in them. Dispose it to close the
 * browser and reap the process.
 */

const DRIVER = new URL("./_browser_driver.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/** How long one command may take before the test fails, in ms. */
const COMMAND_TIMEOUT_MS = 15_000;

interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** One page of the browser. */
export interface BrowserPage {
  /** Evaluates `expression` in the page (a promise is awaited) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
}

/** A running headless Chromium. */
export class TestBrowser implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, (answer: Answer) => void>();
  readonly #reading: Promise<void>;
  readonly #encoder = new TextEncoder();
  #nextId = 1;
  /** The Chromium version, once started. */
  version = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = this.#read();
  }

  /** Starts Chromium and resolves once it is up. */
  static async start(): Promise<TestBrowser> {
    const child = new Deno.Command(Deno.execPath(), {
      // Every permission: see the driver's module comment.
      args: ["run", "--quiet", "--allow-all", DRIVER],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const browser = new TestBrowser(child);
    try {
      browser.version = await browser.#answer<string>(0, "the browser to start");
    } catch (error) {
      await browser.close();
      throw error;
    }
    return browser;
  }

  async #read(): Promise<void> {
    let buffered = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const answer = JSON.parse(buffered.slice(0, newline)) as Answer;
        buffered = buffered.slice(newline + 1);
        this.#waiting.get(answer.id)?.(answer);
        this.#waiting.delete(answer.id);
      }
    }
    for (const settle of this.#waiting.values()) {
      settle({ id: -1, ok: false, error: "the browser driver exited" });
    }
  }

  #answer<T>(id: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`Timed out after ${COMMAND_TIMEOUT_MS} ms waiting for ${what}`));
      }, COMMAND_TIMEOUT_MS);
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.ok) resolve(answer.value as T);
        else reject(new Error(`In the browser, ${what} failed: ${answer.error}`));
      });
    });
  }

  async #command<T>(command: Record<string, unknown>, what: string): Promise<T> {
    const id = this.#nextId++;
    const answered = this.#answer<T>(id, what);
    await this.#writer.write(this.#encoder.encode(JSON.stringify({ id, ...command }) + "\n"));
    return await answered;
  }

  /** Opens `url` in a new page; the page must set `globalThis.sdkReady = true`. */
  async open(url: string): Promise<BrowserPage> {
    const page = await this.#command<string>({ op: "open", url }, `opening ${url}`);
    return {
      evaluate: <T>(expression: string) =>
        this.#command<T>({ op: "eval", page, expression }, `evaluating ${expression.slice(0, 80)}`),
    };
  }

  /** Closes the browser and waits for the driver to exit. Safe twice. */
  async close(): Promise<void> {
    try {
      await this.#command({ op: "close" }, "the browser to close");
      await this.#writer.close();
    } catch {
      // The driver is gone already; the kill below makes sure.
      try {
        this.#child.kill();
      } catch {
        // Exited.
      }
    }
    await this.#child.status;
    await this.#reading;
  }

  /** Closes the browser. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
