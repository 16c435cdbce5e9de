import assert from "node:assert/strict";
import { Connection } from "../../../src/transport/websocket/connection.ts";
import { decodeServerFrames } from "./_frames.ts";
import { FakeConn } from "./_fake_conn.ts";

/** A connection over a fake socket, started with events that record the close. */
function open(): { conn: FakeConn; connection: Connection; closes: unknown[][] } {
  const conn = new FakeConn();
  const connection = new Connection(conn as unknown as Deno.TcpConn);
  const closes: unknown[][] = [];
  connection.start({
    onText: () => {},
    onBinary: () => {},
    onClosed: (...args) => closes.push(args),
  });
  return { conn, connection, closes };
}

/** Lets the microtask that flushes the turn's output run. */
const endOfTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

Deno.test("Connection sends everything queued in one turn as one write", async () => {
  const { conn, connection } = open();
  for (let i = 0; i < 100; i++) connection.send(`message ${i}`);
  connection.sendBinary(new Uint8Array([1, 2]));
  connection.ping();
  assert.equal(conn.writes.length, 0, "nothing is written before the turn ends");
  await endOfTurn();
  assert.equal(conn.writes.length, 1);
  const frames = decodeServerFrames(conn.writes[0]);
  assert.equal(frames.length, 102);
  assert.equal(new TextDecoder().decode(frames[99].payload), "message 99");
  assert.deepEqual(frames.slice(100).map((f) => f.opcode), [2, 9]);
  conn.completeWrite();
  connection.terminate();
});

Deno.test("Connection.send returns the UTF-8 bytes of the message it queued", async () => {
  const { conn, connection } = open();
  assert.equal(connection.send("plain"), 5);
  assert.equal(connection.send("h\u00e9 \u20ac \u{1F600}"), 1 + 2 + 1 + 3 + 1 + 4);
  assert.equal(connection.send(""), 0);
  await endOfTurn();
  const frames = decodeServerFrames(conn.writes[0]);
  assert.deepEqual(frames.map((f) => f.payload.length), [5, 12, 0]);
  conn.completeWrite();
  connection.terminate();
});

Deno.test("Connection keeps one write in flight and sends what queued meanwhile in the next", async () => {
  const { conn, connection } = open();
  connection.send("first");
  await endOfTurn();
  connection.send("second");
  await endOfTurn();
  connection.send("third");
  await endOfTurn();
  assert.equal(conn.writes.length, 1, "a second write started while the first was in flight");
  conn.completeWrite();
  await endOfTurn();
  assert.equal(conn.writes.length, 2);
  const frames = decodeServerFrames(conn.writes[1]);
  assert.deepEqual(frames.map((f) => new TextDecoder().decode(f.payload)), ["second", "third"]);
  conn.completeWrite();
  connection.terminate();
});

Deno.test("Connection counts bufferedAmount exactly, through partial writes", async () => {
  const { conn, connection } = open();
  assert.equal(connection.bufferedAmount, 0);
  connection.send("x".repeat(100)); // 2-byte header + 100
  assert.equal(connection.bufferedAmount, 102);
  await endOfTurn();
  assert.equal(connection.bufferedAmount, 102, "in flight still counts");
  connection.send("y".repeat(200)); // 4-byte header + 200, queued behind the write
  assert.equal(connection.bufferedAmount, 306);
  conn.completeWrite(40); // the kernel took 40 bytes; the rest is written next
  await endOfTurn();
  assert.equal(connection.bufferedAmount, 266);
  assert.equal(conn.writes.length, 2);
  assert.equal(conn.writes[1].length, 62);
  conn.completeWrite();
  await endOfTurn();
  assert.equal(connection.bufferedAmount, 204);
  conn.completeWrite();
  await endOfTurn();
  assert.equal(connection.bufferedAmount, 0);
  connection.terminate();
});

Deno.test("Connection closes the socket after closeTimeoutMs even while its close frame cannot be written", async () => {
  const conn = new FakeConn();
  const connection = new Connection(conn as unknown as Deno.TcpConn, { closeTimeoutMs: 50 });
  const closed = Promise.withResolvers<unknown[]>();
  connection.start({
    onText: () => {},
    onBinary: () => {},
    onClosed: (...args) => closed.resolve(args),
  });
  connection.send("stuck");
  await endOfTurn(); // this write never completes
  connection.close(1001, "away");
  assert.equal(connection.readyState, 2);
  assert.deepEqual(await closed.promise, [1001, "away", false]);
  assert.equal(conn.closed, true);
  assert.equal(connection.readyState, 3);
});
