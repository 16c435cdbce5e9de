/**
 * The channel from a `--workers` worker to its supervisor: the worker's stdout, piped to the
 * supervisor, carries one JSON object per line, each with a `type`. Logs stay on stderr, so
 * the channel works at every log level and whatever the log format.
 *
 * Messages (worker to supervisor):
 * - `ready`: every listener is up, and these are the worker's ports:
 *   `{"type":"ready","worker":0,"websocket_port":8080,"metrics_port":40123,"admin_port":null}`
 *   (`websocket_port` is null when `websocket.enabled` is off, `admin_port` when
 *   `admin.enabled` is).
 *
 * A new message is a new `type` with its own schema in {@linkcode WorkerMessage}. The
 * supervisor reports a line it cannot decode (not JSON, an unknown `type`, a field out of
 * range) and reads on, so a stray `console.log` in a worker costs a warning, not the worker.
 *
 * @module
 */
import { z } from "zod";

const port = z.number().int().min(1).max(65535);

const readySchema = z.strictObject({
  type: z.literal("ready"),
  /** The worker's index, as assigned through `GATEWAY_WORKER`. */
  worker: z.number().int().min(0),
  /** The shared WebSocket port the worker listens on; null when WebSocket is off. */
  websocket_port: port.nullable(),
  /** The worker's private metrics port on loopback, which the supervisor scrapes. */
  metrics_port: port,
  /** The worker's private admin port on loopback, which the supervisor asks; null when off. */
  admin_port: port.nullable(),
});

/** Schemas by message type: the one table to extend with a new message. */
const SCHEMAS = { ready: readySchema } as const;

/** `ready`: the worker's listeners are up, on these ports. */
export type WorkerReady = z.infer<typeof readySchema>;

/** Any message a worker sends its supervisor. */
export type WorkerMessage = WorkerReady;

/**
 * Longest line the supervisor reads. A message is under 200 bytes; the bound keeps stray
 * output without newlines from growing the supervisor's memory.
 */
export const MAX_LINE_CHARS = 64 * 1024;

/** The line for `message`, newline included. */
export function encodeWorkerMessage(message: WorkerMessage): string {
  return JSON.stringify(message) + "\n";
}

/**
 * Decodes one line (without its newline).
 *
 * @throws {TypeError} when the line is not a valid message; the message says what is wrong.
 */
export function decodeWorkerMessage(line: string): WorkerMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError("Cannot decode worker message: the line is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot decode worker message: the line is not a JSON object");
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !Object.hasOwn(SCHEMAS, type)) {
    throw new TypeError(
      `Cannot decode worker message: unknown type ${JSON.stringify(type ?? null)}`,
    );
  }
  const parsed = SCHEMAS[type as keyof typeof SCHEMAS].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length > 0 ? issue.path.join(".") : "message";
    throw new TypeError(`Cannot decode worker message "${type}": ${field}: ${issue.message}`);
  }
  return parsed.data;
}

/** What {@linkcode readWorkerMessages} hands each line to. */
export interface WorkerChannelHandlers {
  /** A decoded message. */
  onMessage(message: WorkerMessage): void;
  /** A line that is not a message: why, and the line's first 200 characters. */
  onMalformed(error: TypeError, excerpt: string): void;
}

/**
 * Reads a worker's channel until it ends, handing each line to `handlers`. Never throws for
 * what the worker wrote; resolves when the stream ends.
 */
export async function readWorkerMessages(
  stream: ReadableStream<Uint8Array>,
  handlers: WorkerChannelHandlers,
): Promise<void> {
  const take = (line: string) => {
    if (line.trim() === "") return;
    let message: WorkerMessage;
    try {
      message = decodeWorkerMessage(line);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      handlers.onMalformed(error, line.slice(0, 200));
      return;
    }
    handlers.onMessage(message);
  };
  let pending = "";
  let skipping = false;
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      if (!skipping) take(pending.slice(0, newline));
      skipping = false;
      pending = pending.slice(newline + 1);
    }
    if (pending.length > MAX_LINE_CHARS) {
      if (!skipping) {
        handlers.onMalformed(
          new TypeError(
            `Cannot decode worker message: the line is longer than ${MAX_LINE_CHARS} characters`,
          ),
          pending.slice(0, 200),
        );
      }
      skipping = true;
      pending = "";
    }
  }
  if (!skipping) take(pending);
}

/** The supervisor's end of the channel is gone: this worker can no longer report to it. */
export class WorkerChannelError extends Error {
  /** Creates the error; `cause` is the failed write. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerChannelError";
  }
}

/** Where a worker writes its messages: stdout, or a test's sink. */
export interface ChannelWriter {
  /** Writes some of `bytes`, returning how many. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * Sends `message` to the supervisor over stdout.
 *
 * @throws {WorkerChannelError} when stdout is closed (the supervisor is gone).
 */
export function sendToSupervisor(
  message: WorkerMessage,
  out: ChannelWriter = Deno.stdout,
): void {
  const bytes = new TextEncoder().encode(encodeWorkerMessage(message));
  try {
    for (let offset = 0; offset < bytes.length;) {
      offset += out.writeSync(bytes.subarray(offset));
    }
  } catch (error) {
    throw new WorkerChannelError(
      `Cannot send "${message.type}" to the supervisor: its channel (stdout) is closed`,
      { cause: error },
    );
  }
}

/**
 * Resolves when the supervisor is gone: a worker's stdin is a pipe the supervisor holds open
 * and never writes, so its end means the supervisor exited, however it died.
 */
export async function supervisorGone(stdin: ReadableStream<Uint8Array> = Deno.stdin.readable) {
  for await (const _ of stdin) {
    // The supervisor never writes; anything read is ignored.
  }
}
