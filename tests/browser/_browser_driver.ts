/**
 * Drives headless Chromium (Debian's `/usr/bin/chromium`) with playwright-core, as a child
 * process of the browser tests. It runs apart because playwright-core probes paths such as
 * `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads, which Deno allows only with every
 * permission; the tests themselves keep the `test` permission set.
 *
 * It reads one JSON command per line on stdin and answers each with one JSON line on stdout:
 * - `{"id":1,"op":"open","url":"http://..."}`: opens a page, waits for `globalThis.sdkReady`,
 *   answers with the page's name;
 * - `{"id":2,"op":"eval","page":"p1","expression":"..."}`: evaluates an expression in the page
 *   (awaiting a promise), answers with its JSON value;
 * - `{"id":3,"op":"close"}`, or the end of stdin: closes the browser and exits.
 *
 * Answers are `{"id","ok":true,"value"}` or `{"id","ok":false,"error"}`. Page errors and
 * console errors go to stderr.
 *
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium; no browser is downloaded. */
const CHROMIUM = "/usr/bin/chromium";

const ARGS = [
  // Root in a container has no user namespaces for the sandbox.
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface Command {
  id: number;
  op: "open" | "eval" | "close";
  url?: string;
  page?: string;
  expression?: string;
}

const encoder = new TextEncoder();

async function run(browser: Browser, command: Command, pages: Map<string, Page>): Promise<unknown> {
  switch (command.op) {
    case "open": {
      const page = await browser.newPage();
      const name = `p${pages.size + 1}`;
      page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") console.error(`[${name}] console: ${message.text()}`);
      });
      await page.goto(command.url!);
      await page.waitForFunction("globalThis.sdkReady === true", undefined, { timeout: 5_000 });
      pages.set(name, page);
      return name;
    }
    case "eval": {
      const page = pages.get(command.page!);
      if (page === undefined) throw new Error(`No page "${command.page}"`);
      return await page.evaluate(command.expression!);
    }
    default:
      throw new Error(`Unknown op "${command.op}"`);
  }
}

async function main(): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const pages = new Map<string, Page>();
  const answer = (message: Record<string, unknown>) => {
    try {
      Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));
    } catch {
      // The test process is gone: close the browser (and its temporary profile) and leave.
      void browser.close().finally(() => Deno.exit(1));
    }
  };
  answer({ id: 0, ok: true, value: browser.version() });
  try {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    let buffered = "";
    for await (const chunk of lines) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const command = JSON.parse(buffered.slice(0, newline)) as Command;
        buffered = buffered.slice(newline + 1);
        if (command.op === "close") {
          answer({ id: command.id, ok: true });
          return;
        }
        // Commands run concurrently: a test may wait on one page while another acts.
        run(browser, command, pages).then(
          (value) => answer({ id: command.id, ok: true, value }),
          (error) => answer({ id: command.id, ok: false, error: String(error?.message ?? error) }),
        );
      }
    }
  } finally {
    await browser.close();
  }
}

if (import.meta.main) await main();
