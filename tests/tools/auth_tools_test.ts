import assert from "node:assert/strict";
import type { LoadReport } from "../../tools/_load_report.ts";
import { runTool } from "../_run_tool.ts";
import { startToolGateway, TRANSPORTS } from "../_tool_gateway.ts";
import { hmacAuth, hmacToken, TEST_SECRET_ENV } from "../_tokens.ts";

for (const transport of TRANSPORTS) {
  Deno.test(`ws_client over ${transport} logs in with -token or -token-file, and exits 1 when refused`, async () => {
    const { gateway, flags } = await startToolGateway(transport, { auth: hmacAuth() });
    await using _ = gateway;
    const token = await hmacToken({ sub: "ann" });
    const ok = await runTool("ws_client", [
      ...flags,
      "-token",
      token,
      "-messages",
      "2",
      "-interval",
      "0",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /> \{"type":"auth","id":1,"data":\{"token":"<token>"\}\}/);
    assert.match(ok.stdout, /< \{"type":"response","id":1,"data":\{"user":"ann"/);
    assert.ok(!ok.stdout.includes(token), "the token is printed");
    assert.equal((ok.stdout.match(/"type":"pong"/g) ?? []).length, 2);

    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, `${await hmacToken({ sub: "bob" })}\n`);
      const fromFile = await runTool("ws_client", [
        ...flags,
        "-token-file",
        file,
        "-messages",
        "1",
      ]);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.match(fromFile.stdout, /"user":"bob"/);
    } finally {
      await Deno.remove(file);
    }

    const refused = await runTool("ws_client", [...flags, "-token", "not.a.jwt", "-messages", "1"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /"code":"unauthorized"/);
    assert.match(refused.stderr, /the gateway closed the connection: 4500 unauthorized/);
    assert.equal(gateway.metrics.auth.ok, 2);
    assert.equal(gateway.metrics.auth.bad_token, 1);
  });
}

Deno.test("load_test mints a token per session with -jwt-secret-env, over -procs too", async () => {
  const { gateway, flags } = await startToolGateway("ws", { auth: hmacAuth() });
  await using _ = gateway;
  for (const procs of ["1", "2"]) {
    const before = gateway.metrics.auth.ok;
    const { code, stdout, stderr } = await runTool("load_test", [
      ...flags,
      "-jwt-secret-env",
      TEST_SECRET_ENV,
      "-conn",
      "6",
      "-procs",
      procs,
      "-msg",
      "2",
      "-interval",
      "20",
      "-json",
    ]);
    const report: LoadReport = JSON.parse(stdout || "{}");
    assert.equal(code, 0, `${report.verdict}\n${stderr}`);
    assert.equal(report.connections.established, 6);
    assert.deepEqual(report.messages.error_replies, {});
    // Every session logged in as its own user: none kicked another.
    assert.equal(gateway.metrics.auth.ok - before, 6);
    assert.equal(gateway.metrics.auth.duplicate_kicked, 0);
  }
});

Deno.test("load_test counts a refused token as a failed connection", async () => {
  const { gateway, flags } = await startToolGateway("ws", { auth: hmacAuth() });
  await using _ = gateway;
  const { code, stdout } = await runTool("load_test", [
    ...flags,
    "-token",
    "not.a.jwt",
    "-conn",
    "2",
    "-msg",
    "1",
    "-max-errors",
    "5",
    "-json",
  ]);
  const report: LoadReport = JSON.parse(stdout);
  assert.equal(code, 0, report.verdict);
  assert.equal(report.connections.failed, 2);
  assert.deepEqual(report.connections.failure_reasons, { auth_unauthorized: 2 });
});
