import assert from "node:assert/strict";
import {
  ConfigError,
  loadConfig,
  parseConfig,
  websocketIdleTimeoutSec,
} from "../../src/config/config.ts";
import { runGateway, tempConfigFile } from "../_gateway_process.ts";

Deno.test("parseConfig fills every default from an empty object", () => {
  const config = parseConfig({});
  assert.equal(config.session.heartbeat_ttl_sec, 60);
  assert.equal(config.session.check_interval_sec, 10);
  assert.deepEqual(
    [config.websocket.host, config.websocket.port, config.websocket.path],
    ["0.0.0.0", 8081, "/ws"],
  );
  assert.equal(config.websocket.max_connections, 1000);
  assert.equal(config.quic.port, 8082);
  assert.deepEqual([config.metrics.port, config.metrics.path], [9090, "/metrics"]);
  assert.equal(config.protocol.max_message_bytes, 65536);
});

Deno.test("parseConfig names the field path of every problem", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ websocket: { port: 70000 } }, /websocket\.port: .*65535/],
    [{ websocket: { port: "8081" } }, /websocket\.port: .*expected number/],
    [{ websocket: { prot: 1 } }, /websocket\.prot: unknown key/],
    [{ sesion: {} }, /sesion: unknown key/],
    [{ websocket: { path: "ws" } }, /websocket\.path: must start with \//],
    [{ session: { heartbeat_ttl_sec: 10, check_interval_sec: 6 } }, /session\.check_interval_sec/],
    [{ websocket: { port: 9000 }, metrics: { port: 9000 } }, /metrics\.port: must differ/],
    [[], /\(top level\)/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(() => parseConfig(input, "x.json"), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Invalid config x\.json: /);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("the WebSocket idle timeout lets the sweeper close first but pings before the TTL", () => {
  const session = { heartbeat_ttl_sec: 60, check_interval_sec: 10 };
  const idle = websocketIdleTimeoutSec(session);
  assert.ok(idle > session.heartbeat_ttl_sec + session.check_interval_sec);
  assert.ok(idle / 2 < session.heartbeat_ttl_sec);
});

Deno.test("the gateway exits 2 with one message naming file and field for a bad config", async () => {
  const cases: Array<[string, RegExp]> = [
    ['{"websocket":{"port":70000}}', /websocket\.port/],
    ['{"websocket":{"enabled":"yes"}}', /websocket\.enabled/],
    ['{"metrics":{"colour":"red"}}', /metrics\.colour: unknown key/],
    ['{"websocket": {', /malformed JSON/],
  ];
  for (const [text, pattern] of cases) {
    await using file = await tempConfigFile(text);
    for (const flag of ["--config", "-config"]) {
      const { code, stderr } = await runGateway([flag, file.path]);
      assert.equal(code, 2, stderr);
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, `expected one message, got:\n${stderr}`);
      assert.ok(lines[0].includes(file.path), `message does not name the file: ${lines[0]}`);
      assert.match(lines[0], pattern);
    }
  }
});

Deno.test("the gateway exits 2 when a named config file is missing, via flag or env", async () => {
  const missing = "/nonexistent/gateway.json";
  const byFlag = await runGateway(["--config", missing]);
  assert.equal(byFlag.code, 2);
  assert.match(byFlag.stderr, /Invalid config \/nonexistent\/gateway\.json: cannot read file/);
  const byEnv = await runGateway([], { GATEWAY_CONFIG: missing });
  assert.equal(byEnv.code, 2);
  assert.match(byEnv.stderr, /\/nonexistent\/gateway\.json/);
});

Deno.test("the GATEWAY_CONFIG env var picks the file and --config wins over it", async () => {
  await using bad = await tempConfigFile('{"websocket":{"port":70000}}');
  await using worse = await tempConfigFile('{"websocket":{"port":-1}}');
  const byEnv = await runGateway([], { GATEWAY_CONFIG: bad.path });
  assert.equal(byEnv.code, 2);
  assert.ok(byEnv.stderr.includes(bad.path));
  const both = await runGateway(["--config", worse.path], { GATEWAY_CONFIG: bad.path });
  assert.equal(both.code, 2);
  assert.ok(both.stderr.includes(worse.path) && !both.stderr.includes(bad.path));
});

Deno.test("the gateway exits 2 with usage for an unknown flag", async () => {
  const { code, stderr } = await runGateway(["-conf", "x"]);
  assert.equal(code, 2);
  assert.match(stderr, /Unknown option '--conf'/);
  assert.match(stderr, /Usage: deno task gateway/);
});

Deno.test("loadConfig falls back to built-in defaults only when the file is optional", async () => {
  const missing = "/nonexistent/gateway.json";
  const optional = await loadConfig(missing, false);
  assert.equal(optional.fromFile, false);
  assert.equal(optional.config.websocket.port, 8081);
  await assert.rejects(loadConfig(missing, true), ConfigError);
});

Deno.test("the gateway exits 2 naming the field for an unusable auth key or workers without NATS", async () => {
  const jwt = (key: Record<string, string>) => JSON.stringify({ auth: { mode: "jwt", jwt: key } });
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      jwt({ hmac_secret_env: "MMO_TEST_UNSET_SECRET" }),
      [],
      {},
      /auth\.jwt\.hmac_secret_env: environment variable MMO_TEST_UNSET_SECRET is unset/,
    ],
    [
      jwt({ public_key_file: "/nonexistent/key.pem" }),
      [],
      {},
      /auth\.jwt\.public_key_file: cannot read \/nonexistent\/key\.pem/,
    ],
    [
      jwt({ hmac_secret_env: "MMO_TEST_SECRET" }),
      ["--workers", "2"],
      { MMO_TEST_SECRET: "s".repeat(32) },
      /auth\.duplicate_login: "kick_old" with 2 workers needs cluster\.nats\.servers, as workers share logins through NATS/,
    ],
  ];
  for (const [text, args, env, pattern] of cases) {
    await using file = await tempConfigFile(text);
    const { code, stderr } = await runGateway(["--config", file.path, ...args], env);
    assert.equal(code, 2, stderr);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `expected one message, got:\n${stderr}`);
    assert.ok(lines[0].startsWith(`Invalid config ${file.path}: `), lines[0]);
    assert.match(lines[0], pattern);
  }
});

Deno.test("admin config: off by default on loopback 9091; ports, page sizes and variable names are checked", () => {
  const defaults = parseConfig({}).admin;
  assert.deepEqual(
    [defaults.enabled, defaults.host, defaults.port, defaults.token_env, defaults.tokens_env],
    [false, "127.0.0.1", 9091, "MMO_ADMIN_TOKEN", ""],
  );
  const refused: [unknown, RegExp][] = [
    [{ admin: { enabled: true, port: 8081 } }, /admin\.port: must differ from websocket\.port/],
    [{ admin: { enabled: true, port: 9090 } }, /admin\.port: must differ from metrics\.port/],
    [{ admin: { page_size: 500, max_page_size: 100 } }, /admin\.page_size: must be at most/],
    [{ admin: { max_page_size: 1001 } }, /admin\.max_page_size/],
    [{ admin: { token_env: "gateway_admin" } }, /admin\.token_env: must not start with GATEWAY_/],
    [{ admin: { token_env: "1TOKEN" } }, /admin\.token_env: must be an environment variable/],
    [{ admin: { token_env: "" } }, /admin\.token_env/],
    [{ admin: { tokens_env: "A-B" } }, /admin\.tokens_env/],
    [{ admin: { scatter_timeout_ms: 10 } }, /admin\.scatter_timeout_ms/],
    [{ session: { rtt_probe_interval_sec: 3601 } }, /session\.rtt_probe_interval_sec/],
    [{ session: { rtt_probe_interval_sec: 5 } }, /session\.rtt_probe_idle_sec: must be below/],
  ];
  for (const [input, message] of refused) {
    assert.throws(() => parseConfig(input), message, JSON.stringify(input));
  }
  parseConfig({ session: { rtt_probe_interval_sec: 0 } }); // off: the idle time is moot
  // The outbound limit holds a whole replay while resume is on; with resume off it need not.
  assert.throws(
    () => parseConfig({ limits: { max_outbound_bytes: 128 * 1024 } }),
    /limits\.max_outbound_bytes: must be at least session\.resume_buffer_bytes \(262144\)/,
  );
  parseConfig({ limits: { max_outbound_bytes: 128 * 1024 }, session: { resume_window_sec: 0 } });
  parseConfig({
    limits: { max_outbound_bytes: 128 * 1024 },
    session: { resume_buffer_bytes: 128 * 1024 },
  });
  // The same port is fine while the admin listener is off, and 0 always picks a free one.
  parseConfig({ admin: { port: 8081 } });
  parseConfig({ admin: { enabled: true, port: 0 }, websocket: { port: 0 }, metrics: { port: 0 } });
});
