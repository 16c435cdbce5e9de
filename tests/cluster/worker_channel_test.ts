import assert from "node:assert/strict";
import {
  decodeWorkerMessage,
  encodeWorkerMessage,
  MAX_LINE_CHARS,
  readWorkerMessages,
  sendToSupervisor,
  WorkerChannelError,
  type WorkerMessage,
} from "../../src/cluster/worker_channel.ts";

const READY: WorkerMessage = {
  type: "ready",
  worker: 1,
  websocket_port: 8080,
  metrics_port: 40123,
  admin_port: null,
};

/** A stream that yields `chunks` as UTF-8 bytes, one read each. */
function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
}

/** Everything {@linkcode readWorkerMessages} hands out for `chunks`. */
async function readAll(chunks: string[]) {
  const messages: WorkerMessage[] = [];
  const malformed: { error: string; excerpt: string }[] = [];
  await readWorkerMessages(streamOf(chunks), {
    onMessage: (message) => messages.push(message),
    onMalformed: (error, excerpt) => malformed.push({ error: error.message, excerpt }),
  });
  return { messages, malformed };
}

Deno.test("worker channel: a ready message survives encode and decode", () => {
  const line = encodeWorkerMessage(READY);
  assert.equal(
    line,
    '{"type":"ready","worker":1,"websocket_port":8080,"metrics_port":40123,"admin_port":null}\n',
  );
  assert.deepEqual(decodeWorkerMessage(line.trimEnd()), READY);
  const noWebSocket = { ...READY, websocket_port: null };
  assert.deepEqual(decodeWorkerMessage(encodeWorkerMessage(noWebSocket).trimEnd()), noWebSocket);
  const admin = { ...READY, admin_port: 40124 };
  assert.deepEqual(decodeWorkerMessage(encodeWorkerMessage(admin).trimEnd()), admin);
});

Deno.test("worker channel: decode says what is wrong with a bad line", () => {
  const cases: [string, string][] = [
    ["websocket listening", "Cannot decode worker message: the line is not JSON"],
    ["[1,2]", "Cannot decode worker message: the line is not a JSON object"],
    ['{"worker":0}', "Cannot decode worker message: unknown type null"],
    ['{"type":"drained"}', 'Cannot decode worker message: unknown type "drained"'],
    [
      '{"type":"ready","worker":0,"websocket_port":8080,"metrics_port":70000,"admin_port":null}',
      'Cannot decode worker message "ready": metrics_port: Too big: expected number to be <=65535',
    ],
    [
      '{"type":"ready","worker":0,"metrics_port":1}',
      'Cannot decode worker message "ready": websocket_port: Invalid input: expected number, received undefined',
    ],
    [
      '{"type":"ready","worker":0,"websocket_port":1,"metrics_port":2,"admin_port":3,"extra":1}',
      'Cannot decode worker message "ready": message: Unrecognized key: "extra"',
    ],
  ];
  for (const [line, message] of cases) {
    assert.throws(() => decodeWorkerMessage(line), { name: "TypeError", message }, line);
  }
});

Deno.test("worker channel: the reader joins split lines and reports bad ones without stopping", async () => {
  const line = encodeWorkerMessage(READY);
  const { messages, malformed } = await readAll([
    line.slice(0, 10),
    line.slice(10) + "a stray console.log\n\n",
    '{"type":"ready"}\n' + line.trimEnd(), // the last line may lack its newline
  ]);
  assert.deepEqual(messages, [READY, READY]);
  assert.deepEqual(malformed.map((m) => m.excerpt), ["a stray console.log", '{"type":"ready"}']);
  assert.match(malformed[0].error, /not JSON/);
});

Deno.test("worker channel: the reader drops a line past the bound and reads on after it", async () => {
  const long = "x".repeat(MAX_LINE_CHARS);
  const { messages, malformed } = await readAll([
    long,
    long, // still the same line: reported once
    "tail of the long line\n" + encodeWorkerMessage(READY),
  ]);
  assert.deepEqual(messages, [READY]);
  assert.equal(malformed.length, 1);
  assert.equal(
    malformed[0].error,
    `Cannot decode worker message: the line is longer than ${MAX_LINE_CHARS} characters`,
  );
  assert.equal(malformed[0].excerpt, "x".repeat(200));
});

Deno.test("worker channel: send writes the whole line and names a closed channel", () => {
  const written: number[] = [];
  // A pipe may take a write in parts: three bytes at a time here.
  sendToSupervisor(READY, {
    writeSync: (bytes) => {
      written.push(...bytes.subarray(0, 3));
      return Math.min(3, bytes.length);
    },
  });
  assert.equal(new TextDecoder().decode(new Uint8Array(written)), encodeWorkerMessage(READY));

  const closed = new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
  assert.throws(
    () =>
      sendToSupervisor(READY, {
        writeSync: () => {
          throw closed;
        },
      }),
    (error: unknown) =>
      error instanceof WorkerChannelError && error.cause === closed &&
      error.message === 'Cannot send "ready" to the supervisor: its channel (stdout) is closed',
  );
});
