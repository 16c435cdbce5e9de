import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/config.ts";
import { AdminTokens, isLoopback } from "../../src/ops/admin_auth.ts";

const TOKEN = "s3cret-token-0123456789";

function admin(fields: Record<string, unknown> = {}) {
  return parseConfig({ admin: { enabled: true, ...fields } }).admin;
}

Deno.test("admin tokens: the token variable's token acts as admin, named tokens by their names", () => {
  const tokens = AdminTokens.fromEnv(
    admin({ tokens_env: "OPS_TOKENS" }),
    { MMO_ADMIN_TOKEN: TOKEN, OPS_TOKENS: `alice:${"a".repeat(16)}, bob : b:${"b".repeat(14)}` },
    "prod.json",
  );
  assert.equal(tokens.size, 3);
  assert.deepEqual(tokens.check(`Bearer ${TOKEN}`), { ok: true, actor: "admin" });
  assert.deepEqual(tokens.check(`bearer ${"a".repeat(16)}`), { ok: true, actor: "alice" });
  // A token may hold a colon: only the first one separates the name.
  assert.deepEqual(tokens.check(`Bearer b:${"b".repeat(14)}`), { ok: true, actor: "bob" });
});

Deno.test("admin tokens: 401 without a bearer token, 403 with a wrong one", () => {
  const tokens = AdminTokens.fromEnv(admin(), { MMO_ADMIN_TOKEN: TOKEN }, "f");
  for (const header of [null, "", "Basic abc", "Bearer", `Token ${TOKEN}`]) {
    const result = tokens.check(header);
    assert.equal(result.ok ? 200 : result.status, 401, String(header));
  }
  for (const header of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, "Bearer x"]) {
    const result = tokens.check(header);
    assert.equal(result.ok ? 200 : result.status, 403, header);
  }
});

Deno.test("admin tokens: without any token only a loopback listener starts, and it is open", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    const tokens = AdminTokens.fromEnv(admin({ host }), {}, "f");
    assert.equal(tokens.size, 0);
    assert.deepEqual(tokens.check(null), { ok: true, actor: "loopback" });
  }
  assert.throws(
    () => AdminTokens.fromEnv(admin({ host: "0.0.0.0" }), {}, "prod.json"),
    {
      name: "ConfigError",
      message:
        "Invalid config prod.json: admin.host: 0.0.0.0 is not a loopback address and no admin token is set (MMO_ADMIN_TOKEN); set one, or bind 127.0.0.1",
    },
  );
  assert.ok(!isLoopback("10.0.0.1") && !isLoopback("128.0.0.1") && !isLoopback("::"));
});

Deno.test("admin tokens: every bad variable stops the start, naming the field", () => {
  const cases: [Record<string, unknown>, Record<string, string>, string][] = [
    [{}, { MMO_ADMIN_TOKEN: "" }, "admin.token_env: MMO_ADMIN_TOKEN is set but empty"],
    [{}, { MMO_ADMIN_TOKEN: "  " }, "admin.token_env: MMO_ADMIN_TOKEN is set but empty"],
    [{}, { MMO_ADMIN_TOKEN: "short" }, 'admin.token_env: the token named "admin" is 5 characters'],
    [{ tokens_env: "T" }, {}, "admin.tokens_env: T is not set"],
    [{ tokens_env: "T" }, { T: "" }, "admin.tokens_env: T is set but empty"],
    [{ tokens_env: "T" }, { T: "nocolon" }, "admin.tokens_env: T must hold name:token items"],
    [{ tokens_env: "T" }, { T: `bad name:${TOKEN}` }, "admin.tokens_env: T must hold"],
    [{ tokens_env: "T" }, { T: `a:${TOKEN},a:${TOKEN}` }, 'the token name "a" is used twice'],
    [{ tokens_env: "T" }, { T: `admin:${TOKEN}`, MMO_ADMIN_TOKEN: TOKEN }, '"admin" is used twice'],
    [{ tokens_env: "T" }, { T: `a:${TOKEN},` }, "admin.tokens_env: T must hold"],
  ];
  for (const [fields, env, message] of cases) {
    assert.throws(
      () => AdminTokens.fromEnv(admin(fields), env, "prod.json"),
      (error: Error) => error.name === "ConfigError" && error.message.includes(message),
      message,
    );
  }
});
