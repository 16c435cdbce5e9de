// A client no one in this project wrote: Node.js with the `ws` package. It sends text,
// binary and a fragmented message, waits for each echo, pings, then closes with 4001 and
// prints what it saw as one JSON line. Usage: node _node_ws_client.mjs <url>
import WebSocket from "ws";

const ws = new WebSocket(process.argv[2], ["chat"]);
const result = { protocol: null, echoes: [], pong: null, close: null, errors: [] };
const replies = [];
let waiting;
ws.on("message", (data, isBinary) => {
  const reply = isBinary ? [...data] : data.toString();
  if (waiting) {
    const resolve = waiting;
    waiting = undefined;
    resolve(reply);
  } else replies.push(reply);
});
const next = () =>
  replies.length > 0
    ? Promise.resolve(replies.shift())
    : new Promise((resolve) => waiting = resolve);
ws.on("error", (error) => result.errors.push(String(error)));
ws.on("pong", (data) => result.pong = data.toString());
ws.on("close", (code, reason) => {
  result.close = { code, reason: reason.toString() };
  console.log(JSON.stringify(result));
});
ws.on("open", async () => {
  result.protocol = ws.protocol;
  for (const message of ["hello", "héllo €𝄞", "x".repeat(60_000), Buffer.from([0, 1, 255])]) {
    ws.send(message);
    result.echoes.push(await next());
  }
  ws.send("frag-", { fin: false });
  ws.send("ment", { fin: true });
  result.echoes.push(await next());
  ws.ping("hb");
  await new Promise((resolve) => setTimeout(resolve, 100));
  ws.close(4001, "node done");
});
