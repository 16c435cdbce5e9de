/**
 * A command-line client for the gateway: sends pings or requests and prints every reply with
 * its round-trip time, or, in interactive mode, sends each line typed on stdin. It answers the
 * gateway's round-trip probes (`{"type":"ping","id":<n>}` to an idle session) as the SDK does,
 * without printing them.
 *
 * Exit status: 0 when every message was answered, 1 when the client cannot connect, a reply
 * does not come or the gateway closes the connection, 2 for bad flags.
 *
 * @module
 */
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import type { ClientConnection, CloseInfo } from "./_client_connection.ts";
import { ConnectError } from "./_client_connection.ts";
import { CONNECTORS } from "./_connect.ts";
import { readToken, TOKEN_OPTIONS, TOKEN_USAGE } from "./_auth.ts";
import { describeTarget, parseTarget, TARGET_OPTIONS, TARGET_USAGE } from "./_target.ts";

const USAGE = `Usage: deno task ws-client [options]

Connects to the gateway, sends messages and prints each reply with its round-trip time.
Without -route it sends ping envelopes; with -route (or -data) it sends requests.
The gateway's round-trip probes to an idle session are answered with a pong, not printed.

Options:
${TARGET_USAGE}
  -messages <n>         messages to send (default 10)
  -interval <ms>        milliseconds between messages (default 1000)
  -route <name>         send requests to this route (default: pings; "echo" when only -data)
  -data <json|text>     request payload: JSON if it parses, else a string (default null)
  -i, -interactive      send each line typed on stdin: a line starting with { is sent as is,
                        any other line as the data of a request to -route (default echo).
                        The default when stdin is a terminal and -messages is not given.
                        It starts with hello, so the session can be resumed and what the
                        gateway sends carries its seq; /resume drops the connection (as a
                        dead link would) and resumes the session on a new one with the last
                        seq seen, printing the messages replayed.
${TOKEN_USAGE}
  -h, -help             show this help

Go-style (-messages 5) and GNU-style (--messages 5) flags both work.
Exit status: 0 all answered, 1 cannot connect / no reply / closed by the gateway, 2 bad flags.`;

/** How long a message waits for its reply. */
const REPLY_TIMEOUT_MS = 5_000;

const OPTIONS = {
  ...TARGET_OPTIONS,
  ...TOKEN_OPTIONS,
  messages: { type: "string" },
  interval: { type: "string" },
  route: { type: "string" },
  data: { type: "string" },
  interactive: { type: "boolean", short: "i" },
  help: { type: "boolean", short: "h" },
} as const;

function parseData(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Matches replies to the messages sent and prints both, across resumed connections. */
class Conversation {
  #connection: ClientConnection;
  readonly #sentAt = new Map<number, number>();
  /** Send times of verbatim lines without an id, answered by replies without one. */
  readonly #anonymous: number[] = [];
  readonly #waiters = new Map<number | "anonymous", () => void>();
  #nextId = 1;
  /** The `type` of the latest reply that carried an id. */
  readonly replyTypes = new Map<number, string>();
  /** The latest resume token the gateway gave (`hello`, `auth`, `resume` answers). */
  resumeToken: string | undefined;
  /** The highest `seq` received. */
  lastSeq = 0;
  readonly #ended = Promise.withResolvers<CloseInfo>();
  #resuming = false;

  constructor(connection: ClientConnection) {
    this.#connection = connection;
    this.#attach(connection);
  }

  /** Resolves when the current connection ends, unless this side is resuming it. */
  get closed(): Promise<CloseInfo> {
    return this.#ended.promise;
  }

  #attach(connection: ClientConnection): void {
    connection.onMessage = (text) => this.#received(text);
    void connection.closed.then((info) => {
      if (connection === this.#connection && !this.#resuming) this.#ended.resolve(info);
    });
  }

  /**
   * Drops the connection as a dead link would and resumes the session on a new one from
   * `connect`; false (with a message) when it cannot.
   */
  async resume(connect: () => Promise<ClientConnection>): Promise<boolean> {
    const token = this.resumeToken;
    if (token === undefined) {
      console.error("ws_client: no resume token: the gateway did not answer hello with one");
      return false;
    }
    // What was typed before reaches the gateway first (a QUIC close discards unread data).
    const deadline = performance.now() + REPLY_TIMEOUT_MS;
    while (this.outstanding > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const old = this.#connection;
    this.#resuming = true;
    try {
      if (old.abort) await old.abort();
      else await old.close(4000, "resume");
      console.error(`Dropped the connection; resuming after seq ${this.lastSeq}`);
      const next = await connect();
      this.#connection = next;
      this.#attach(next);
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      console.error(`ws_client: ${error.message}`);
      this.#ended.resolve({ code: 1006, reason: "reconnect failed", byClient: true });
      return false;
    } finally {
      this.#resuming = false;
    }
    const id = this.nextId();
    const resume = (shown: string) =>
      JSON.stringify({ type: "resume", id, data: { token: shown, last_seq: this.lastSeq } });
    await this.send(resume(token), id, resume("<token>"));
    return await this.replied(id, REPLY_TIMEOUT_MS);
  }

  /** Closes the current connection. */
  close(): Promise<void> {
    return this.#connection.close();
  }

  /** Messages still waiting for a reply. */
  get outstanding(): number {
    return this.#sentAt.size + this.#anonymous.length;
  }

  /** A fresh message id. */
  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Sends `text`, whose envelope carries `id` (or none), printing `shown` in its place (a
   * token stays off the screen); resolves when it is on its way.
   */
  async send(text: string, id: number | undefined, shown = text): Promise<void> {
    if (id === undefined) this.#anonymous.push(performance.now());
    else this.#sentAt.set(id, performance.now());
    // Ids typed by hand must not be handed out again, or two replies would share one id.
    if (id !== undefined && id >= this.#nextId) this.#nextId = Math.floor(id) + 1;
    console.log(`> ${shown}`);
    await this.#connection.send(text);
  }

  /** Resolves true when the reply to `id` arrives, false after `ms`. */
  replied(id: number | undefined, ms: number): Promise<boolean> {
    const key = id ?? "anonymous";
    if (id !== undefined ? !this.#sentAt.has(id) : this.#anonymous.length === 0) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        resolve(false);
      }, ms);
      this.#waiters.set(key, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #received(text: string): void {
    const now = performance.now();
    let id: unknown;
    try {
      const envelope = JSON.parse(text);
      if (envelope?.type === "ping") {
        // The gateway measuring this idle session's round trip: answer as the SDK does. Its id
        // numbers the other direction, so it must not match a message sent here.
        if (Number.isSafeInteger(envelope.id)) {
          this.#connection.send(`{"type":"pong","id":${envelope.id}}`).catch(() => {});
        }
        return;
      }
      id = envelope?.id;
      if (typeof id === "number") this.replyTypes.set(id, String(envelope.type));
      if (typeof envelope?.seq === "number") this.lastSeq = Math.max(this.lastSeq, envelope.seq);
      const token = envelope?.data?.resume_token;
      if (typeof token === "string") this.resumeToken = token;
    } catch {
      // Not JSON: print it as it came.
    }
    let sentAt: number | undefined;
    if (typeof id === "number" && this.#sentAt.has(id)) {
      sentAt = this.#sentAt.get(id);
      this.#sentAt.delete(id);
    } else if (id === undefined) {
      sentAt = this.#anonymous.shift();
    }
    const rtt = sentAt === undefined ? "" : `  (${(now - sentAt).toFixed(3)} ms)`;
    console.log(`< ${text}${rtt}`);
    const key = typeof id === "number" ? id : "anonymous";
    this.#waiters.get(key)?.();
    this.#waiters.delete(key);
  }
}

function describeClose(info: CloseInfo): string {
  return `${info.code}${info.reason ? ` ${info.reason}` : ""}`;
}

async function sendMessages(
  conversation: Conversation,
  count: number,
  intervalMs: number,
  envelope: (id: number) => string,
  closed: Promise<CloseInfo>,
): Promise<number> {
  for (let n = 1; n <= count; n++) {
    const id = conversation.nextId();
    await conversation.send(envelope(id), id);
    const answered = await Promise.race([
      conversation.replied(id, REPLY_TIMEOUT_MS),
      closed.then(() => false),
    ]);
    if (!answered) {
      console.error(`ws_client: no reply to message ${id} within ${REPLY_TIMEOUT_MS} ms`);
      return 1;
    }
    if (n < count) {
      const wait = new Promise((resolve) => setTimeout(resolve, intervalMs));
      await Promise.race([wait, closed]);
    }
  }
  return 0;
}

async function interactive(
  conversation: Conversation,
  route: string,
  closed: Promise<CloseInfo>,
  connect: () => Promise<ClientConnection>,
): Promise<number> {
  console.error(
    `Type a message and press Enter: {...} is sent as is, other text as data to route ` +
      `"${route}"; /resume drops the connection and resumes the session. Ctrl-D quits.`,
  );
  if (conversation.resumeToken === undefined) {
    const id = conversation.nextId();
    await conversation.send(JSON.stringify({ type: "hello", id }), id);
    await conversation.replied(id, REPLY_TIMEOUT_MS);
  }
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const gone = closed.then(() => undefined);
  for (;;) {
    const chunk = await Promise.race([lines.read(), gone]);
    if (chunk === undefined) return 1;
    if (chunk.done) break;
    buffered += chunk.value;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === "") continue;
      if (line === "/resume") {
        if (!await conversation.resume(connect)) return 1;
      } else if (line.startsWith("{")) {
        let id: unknown;
        try {
          id = JSON.parse(line).id;
        } catch {
          // Sent anyway: showing how the gateway answers bad JSON is part of the job.
        }
        await conversation.send(line, typeof id === "number" ? id : undefined);
      } else {
        const id = conversation.nextId();
        await conversation.send(JSON.stringify({ type: "request", id, route, data: line }), id);
      }
    }
  }
  // Input ended: give replies still in flight a moment.
  let ended = false;
  void gone.then(() => ended = true);
  const deadline = performance.now() + REPLY_TIMEOUT_MS;
  while (conversation.outstanding > 0 && !ended && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return 0;
}

/** Sends `{"type":"auth"}` with `token` first; a refused token ends in the gateway's close. */
async function logIn(
  conversation: Conversation,
  token: string,
  closed: Promise<CloseInfo>,
): Promise<number> {
  const id = conversation.nextId();
  const auth = (shown: string) => JSON.stringify({ type: "auth", id, data: { token: shown } });
  await conversation.send(auth(token), id, auth("<token>"));
  const answered = await Promise.race([
    conversation.replied(id, REPLY_TIMEOUT_MS),
    closed.then(() => false),
  ]);
  if (!answered) {
    console.error(`ws_client: no answer to auth within ${REPLY_TIMEOUT_MS} ms`);
    return 1;
  }
  if (conversation.replyTypes.get(id) === "response") return 0;
  // Refused: the gateway closes next, and its close code is reported.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, REPLY_TIMEOUT_MS))]);
  return 1;
}

/** Runs the client with command-line `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, target, count, intervalMs, token;
  try {
    flags = parseCliArgs(args, OPTIONS);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    target = await parseTarget(flags);
    count = intFlag("messages", flags.messages, 10, 0, 1_000_000_000);
    intervalMs = intFlag("interval", flags.interval, 1000, 0, 3_600_000);
    token = await readToken(flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`ws_client: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  const isInteractive = flags.interactive ||
    (Deno.stdin.isTerminal() && flags.messages === undefined);
  const route = flags.route ?? (flags.data !== undefined || isInteractive ? "echo" : undefined);
  const data = parseData(flags.data);
  const envelope = route === undefined
    ? (id: number) => JSON.stringify({ type: "ping", id })
    : (id: number) => JSON.stringify({ type: "request", id, route, data });

  let connection: ClientConnection;
  try {
    connection = await CONNECTORS[target.transport](target);
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    console.error(`ws_client: ${error.message}`);
    return 1;
  }
  console.error(`Connected to ${describeTarget(target)}`);
  const conversation = new Conversation(connection);
  let byGateway: CloseInfo | undefined;
  const closed = conversation.closed.then((info) => {
    if (!info.byClient) byGateway = info;
    return info;
  });
  let status;
  try {
    status = token === undefined ? 0 : await logIn(conversation, token, closed);
    if (status === 0) {
      status = isInteractive
        ? await interactive(
          conversation,
          route ?? "echo",
          closed,
          () => CONNECTORS[target.transport](target),
        )
        : await sendMessages(conversation, count, intervalMs, envelope, closed);
    }
  } finally {
    await conversation.close();
  }
  if (byGateway) {
    console.error(`ws_client: the gateway closed the connection: ${describeClose(byGateway)}`);
    return 1;
  }
  return status;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
