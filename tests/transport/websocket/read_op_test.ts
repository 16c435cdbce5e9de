import assert from "node:assert/strict";
import { readOp, resourceId } from "../../../src/transport/websocket/_read_op.ts";

Deno.test("The direct read op works on this Deno and reports the end of the stream as 0", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  try {
    const rid = resourceId(server);
    // Deno 2.9.6 exposes it; if a release stops, reads fall back to conn.read and this fails
    // to say so.
    assert.ok(rid >= 0, "this Deno hides the internal read op; the engine uses conn.read");
    await client.write(new Uint8Array([1, 2, 3]));
    const buffer = new Uint8Array(16);
    assert.equal(await readOp(rid, buffer), 3);
    assert.deepEqual([...buffer.subarray(0, 3)], [1, 2, 3]);
    client.close();
    assert.equal(await readOp(rid, buffer), 0);
  } finally {
    server.close();
    try {
      client.close();
    } catch {
      // closed above
    }
  }
});

Deno.test("resourceId is -1 for an object that is not a runtime connection", () => {
  const fake = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } };
  assert.equal(resourceId(fake as unknown as Deno.TcpConn), -1);
});
