import assert from "node:assert/strict";
import { z } from "zod";
import { ConfigError, parseConfig } from "../../src/config/config.ts";
import {
  envTable,
  parseConfigWithEnv,
  parseEnvValue,
  readEnvOverrides,
} from "../../src/config/config_env.ts";
import {
  GatewayProcess,
  LOOPBACK_CONFIG,
  runGateway,
  tempConfigFile,
} from "../_gateway_process.ts";
import { within } from "../_helpers.ts";

/** The dotted path of every leaf field of a config object. */
function leafPaths(value: Record<string, unknown>, prefix: string[] = []): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === "object" && child !== null && !Array.isArray(child)
      ? leafPaths(child as Record<string, unknown>, [...prefix, key])
      : [[...prefix, key].join(".")]
  );
}

function assertConfigError(fn: () => unknown, pattern: RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.match(caught.message, pattern);
  return caught;
}

Deno.test("every config field has a GATEWAY_ variable named after its path", () => {
  const { fields } = envTable();
  const byPath = new Map([...fields.values()].map((f) => [f.path.join("."), f.name]));
  const expected = [
    ...leafPaths(parseConfig({}) as unknown as Record<string, unknown>),
    "quic.cert_file", // optional fields have no default to show up above
    "quic.key_file",
    "quic.webtransport.allowed_origins",
    "auth.jwt.hmac_secret_env",
    "auth.jwt.public_key_file",
    "auth.jwt.jwks_file",
    "auth.jwt.issuer",
    "auth.jwt.audience",
    "limits.routes", // an empty record has no leaves
  ];
  assert.deepEqual([...byPath.keys()].sort(), expected.sort());
  assert.equal(byPath.get("websocket.port"), "GATEWAY_WEBSOCKET_PORT");
  assert.equal(byPath.get("cluster.nats.servers"), "GATEWAY_CLUSTER_NATS_SERVERS");
  assert.equal(byPath.get("session.heartbeat_ttl_sec"), "GATEWAY_SESSION_HEARTBEAT_TTL_SEC");
  assert.deepEqual(
    [fields.get("GATEWAY_WEBSOCKET_PORT")?.kind, fields.get("GATEWAY_WEBSOCKET_ENABLED")?.kind],
    ["integer", "boolean"],
  );
  assert.deepEqual(fields.get("GATEWAY_CLUSTER_NATS_SERVERS"), {
    name: "GATEWAY_CLUSTER_NATS_SERVERS",
    path: ["cluster", "nats", "servers"],
    kind: "list",
    item: "string",
  });
  assert.equal(fields.get("GATEWAY_QUIC_ENGINE")?.kind, "string");
});

Deno.test("a section added to the schema gets its variables with no list to update", () => {
  const schema = z.strictObject({
    auth: z.strictObject({
      jwt_secret: z.string().optional(),
      clock_skew_sec: z.number().int().default(30),
      issuers: z.array(z.string()).default([]),
      routes: z.record(z.string(), z.number()).default({}),
    }),
  });
  const { fields, sections } = envTable(schema);
  assert.deepEqual(
    [...fields.values()].map((f) => [f.name, f.kind]),
    [
      ["GATEWAY_AUTH_JWT_SECRET", "string"],
      ["GATEWAY_AUTH_CLOCK_SKEW_SEC", "integer"],
      ["GATEWAY_AUTH_ISSUERS", "list"],
      ["GATEWAY_AUTH_ROUTES", "json"],
    ],
  );
  assert.deepEqual([...sections.keys()], ["GATEWAY_AUTH"]);
});

Deno.test("envTable refuses schemas whose fields would share or misuse a variable name", () => {
  const collide = z.object({
    cluster: z.object({ nats_servers: z.string(), nats: z.object({ servers: z.string() }) }),
  });
  assert.throws(
    () => envTable(collide),
    /cluster\.nats_servers and cluster\.nats\.servers: both would be GATEWAY_CLUSTER_NATS_SERVERS/,
  );
  const doubled = z.object({ log: z.object({ max__bytes: z.number() }) });
  assert.throws(() => envTable(doubled), /log\.max__bytes: use lower-case words joined by single/);
  const upper = z.object({ log: z.object({ Level: z.string() }) });
  assert.throws(() => envTable(upper), /log\.Level/);
  const reserved = z.object({ worker: z.number() });
  assert.throws(
    () => envTable(reserved, ["GATEWAY_WORKER"]),
    /worker: GATEWAY_WORKER is reserved/,
  );
  // The real schema has none of these, with the names main.ts reserves.
  envTable(undefined, ["GATEWAY_CONFIG", "GATEWAY_WORKER"]);
});

Deno.test("values parse by the field's type", () => {
  const field = (kind: "integer" | "boolean" | "string" | "list" | "json") =>
    ({
      name: "GATEWAY_X",
      path: ["x"],
      kind,
      item: kind === "list" ? "string" : undefined,
    }) as const;
  assert.equal(parseEnvValue(field("integer"), "8081"), 8081);
  assert.equal(parseEnvValue(field("integer"), " 1.5e3 "), 1500);
  assert.equal(parseEnvValue(field("integer"), "-1"), -1);
  for (const bad of ["", "0x10", "8k", "Infinity", "1,000"]) {
    assert.throws(() => parseEnvValue(field("integer"), bad), /expected a decimal number/);
  }
  assert.equal(parseEnvValue(field("boolean"), "true"), true);
  assert.equal(parseEnvValue(field("boolean"), "false"), false);
  for (const bad of ["yes", "1", "TRUE", ""]) {
    assert.throws(() => parseEnvValue(field("boolean"), bad), /expected true or false/);
  }
  assert.equal(parseEnvValue(field("string"), " as is, with commas "), " as is, with commas ");
  assert.equal(parseEnvValue(field("string"), ""), "");
  assert.deepEqual(parseEnvValue(field("list"), "nats://a:4222, nats://b:4222"), [
    "nats://a:4222",
    "nats://b:4222",
  ]);
  assert.deepEqual(parseEnvValue(field("list"), '["a,b", "c"]'), ["a,b", "c"]);
  assert.deepEqual(parseEnvValue(field("list"), ""), []);
  assert.deepEqual(parseEnvValue(field("list"), "[]"), []);
  assert.throws(() => parseEnvValue(field("list"), "[1,"), /expected a JSON array/);
  const numbers = { name: "GATEWAY_X", path: ["x"], kind: "list", item: "integer" } as const;
  assert.deepEqual(parseEnvValue(numbers, "1, 2"), [1, 2]);
  assert.throws(() => parseEnvValue(numbers, "1, two"), /got "two"/);
  assert.deepEqual(parseEnvValue(field("json"), '{"chat.say": 5}'), { "chat.say": 5 });
  assert.throws(() => parseEnvValue(field("json"), "chat.say=5"), /expected JSON/);
});

Deno.test("readEnvOverrides reads GATEWAY_ variables only and refuses unknown ones by name", () => {
  const overrides = readEnvOverrides({
    HOME: "/root",
    GATEWAY_WEBSOCKET_PORT: "9000",
    GATEWAY_CONFIG: "x.json",
    GATEWAY_CLUSTER_NATS_SERVERS: "nats://n:4222",
    gateway_websocket_port: "1", // names are case-sensitive: not ours
  }, { reserved: ["GATEWAY_CONFIG"] });
  assert.deepEqual(overrides, [
    {
      name: "GATEWAY_CLUSTER_NATS_SERVERS",
      path: ["cluster", "nats", "servers"],
      value: [
        "nats://n:4222",
      ],
    },
    { name: "GATEWAY_WEBSOCKET_PORT", path: ["websocket", "port"], value: 9000 },
  ]);
  const typo = assertConfigError(
    () => readEnvOverrides({ GATEWAY_WEBSOKET_PORT: "1" }),
    /^Invalid environment GATEWAY_WEBSOKET_PORT: no such config field/,
  );
  assert.equal(typo.variable, "GATEWAY_WEBSOKET_PORT");
  assertConfigError(
    () => readEnvOverrides({ GATEWAY_WEBSOCKET_PROT: "1" }),
    /GATEWAY_WEBSOCKET_PROT: no such config field; websocket has .*GATEWAY_WEBSOCKET_PORT/,
  );
  assertConfigError(
    () => readEnvOverrides({ GATEWAY_CLUSTER_NATS: "nats://n:4222" }),
    /GATEWAY_CLUSTER_NATS: cluster\.nats is a section; set its fields: GATEWAY_CLUSTER_NATS_SERVERS/,
  );
  assertConfigError(
    () => readEnvOverrides({ GATEWAY_CONFIG: "x.json" }),
    /GATEWAY_CONFIG: no such config field/,
  );
  assertConfigError(
    () => readEnvOverrides({ GATEWAY_WEBSOCKET_PORT: "eighty" }),
    /^Invalid environment GATEWAY_WEBSOCKET_PORT: expected a decimal number, got "eighty"$/,
  );
});

Deno.test("variables apply on top of the file and problems name the variable at fault", () => {
  const file = { websocket: { port: 7000, host: "127.0.0.1" }, log: { level: "warn" } };
  const env = (vars: Record<string, string>) => readEnvOverrides(vars, { file: "f.json" });
  const config = parseConfigWithEnv(
    file,
    env({ GATEWAY_WEBSOCKET_PORT: "7001", GATEWAY_CLUSTER_NATS_SUBJECT_PREFIX: "eu" }),
    "f.json",
  );
  assert.deepEqual(
    [config.websocket.port, config.websocket.host, config.log.level],
    [7001, "127.0.0.1", "warn"],
  );
  assert.equal(config.cluster.nats.subject_prefix, "eu");
  assert.equal(file.websocket.port, 7000, "the file's object is left as it was");

  assertConfigError(
    () => parseConfigWithEnv(file, env({ GATEWAY_WEBSOCKET_PORT: "70000" }), "f.json"),
    /^Invalid environment GATEWAY_WEBSOCKET_PORT: Too big: expected number to be <=65535$/,
  );
  assertConfigError(
    () =>
      parseConfigWithEnv(
        file,
        env({ GATEWAY_WEBSOCKET_PORT: "70000", GATEWAY_LOG_LEVEL: "loud" }),
        "f.json",
      ),
    /^Invalid environment GATEWAY_WEBSOCKET_PORT: Too big.*; GATEWAY_LOG_LEVEL: Invalid option/,
  );
  assertConfigError(
    () => parseConfigWithEnv(file, env({ GATEWAY_CLUSTER_NATS_SERVERS: "nats://a:1,http://b" })),
    /^Invalid environment GATEWAY_CLUSTER_NATS_SERVERS: item "http:\/\/b": must be a nats/,
  );
  // A cross-field rule the variable breaks is reported on its own field: the variable.
  assertConfigError(
    () =>
      parseConfigWithEnv(
        { session: { heartbeat_ttl_sec: 60 } },
        env({ GATEWAY_SESSION_CHECK_INTERVAL_SEC: "40" }),
      ),
    /^Invalid environment GATEWAY_SESSION_CHECK_INTERVAL_SEC: must be at most half/,
  );
  // On the file's field: the file, and which variables were set.
  assertConfigError(
    () =>
      parseConfigWithEnv(
        { metrics: { port: 9000 } },
        env({ GATEWAY_WEBSOCKET_PORT: "9000" }),
        "f.json",
      ),
    /^Invalid config f\.json: metrics\.port: must differ from websocket\.port \(9000\) \(with GATEWAY_WEBSOCKET_PORT from the environment\)$/,
  );
  // A variable can complete what the file leaves half done.
  const paired = parseConfigWithEnv(
    { quic: { cert_file: "cert.pem" } },
    env({ GATEWAY_QUIC_KEY_FILE: "key.pem" }),
  );
  assert.deepEqual([paired.quic.cert_file, paired.quic.key_file], ["cert.pem", "key.pem"]);
  // The file's own problems are still the file's.
  assertConfigError(
    () => parseConfigWithEnv({ websocket: "8081" }, env({ GATEWAY_WEBSOCKET_PORT: "1" }), "f.json"),
    /^Invalid config f\.json: websocket: .*expected object/,
  );
  assertConfigError(
    () => parseConfigWithEnv({ websocket: { prot: 1 } }, [], "f.json"),
    /^Invalid config f\.json: websocket\.prot: unknown key$/,
  );
});

Deno.test("the gateway exits 2 naming the variable for a bad or unknown GATEWAY_ variable", async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ GATEWAY_WEBSOCKET_PORT: "70000" }, /^Invalid environment GATEWAY_WEBSOCKET_PORT: Too big/],
    [{ GATEWAY_WEBSOCKET_ENABLED: "yes" }, /^Invalid environment GATEWAY_WEBSOCKET_ENABLED: /],
    [{ GATEWAY_WEBSOKET_PORT: "8081" }, /^Invalid environment GATEWAY_WEBSOKET_PORT: no such/],
  ];
  for (const [env, pattern] of cases) {
    const { code, stderr } = await runGateway([], env);
    assert.equal(code, 2, stderr);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `expected one message, got:\n${stderr}`);
    assert.match(lines[0], pattern);
  }
});

Deno.test("--check-config validates file and environment and exits without binding", async () => {
  // A port in use would make a real start exit 1: --check-config must not try to bind it.
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using config = await tempConfigFile({
    websocket: { host: "127.0.0.1", port: taken.addr.port },
  });
  const path = config.path;
  const ok = await runGateway(["--config", path, "--check-config"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `Config OK: ${path}\n`);
  assert.equal(ok.stderr, "");

  const withEnv = await runGateway(["--check-config", "--config", path], {
    GATEWAY_LOG_LEVEL: "debug",
    GATEWAY_METRICS_PORT: "0",
  });
  assert.equal(withEnv.code, 0, withEnv.stderr);
  assert.equal(
    withEnv.stdout,
    `Config OK: ${path} with GATEWAY_LOG_LEVEL, GATEWAY_METRICS_PORT\n`,
  );

  const badEnv = await runGateway(["--check-config", "--config", path], {
    GATEWAY_METRICS_PORT: String(taken.addr.port),
  });
  assert.equal(badEnv.code, 2);
  assert.equal(badEnv.stdout, "");
  assert.match(
    badEnv.stderr,
    /^Invalid environment GATEWAY_METRICS_PORT: must differ from websocket\.port/,
  );

  await Deno.writeTextFile(path, '{"websocket":{"port":"8081"}}');
  const badFile = await runGateway(["--check-config", "--config", path]);
  assert.equal(badFile.code, 2);
  assert.match(badFile.stderr, /^Invalid config .*: websocket\.port: .*expected number/);

  const defaults = await runGateway(["--check-config", "--config", "config/gateway.json"]);
  assert.equal(defaults.code, 0, defaults.stderr);
});

Deno.test("workers started by --workers apply the same GATEWAY_ variables", async () => {
  await using config = await tempConfigFile(LOOPBACK_CONFIG);
  await using supervisor = new GatewayProcess(["--config", config.path, "--workers", "2"], {
    env: { GATEWAY_WEBSOCKET_MAX_CONNECTIONS: "7", GATEWAY_SHUTDOWN_GRACE_SEC: "1" },
  });
  for (const worker of [0, 1]) {
    const line = await supervisor.waitForLog(
      "websocket listening",
      20_000,
      (l) => l.worker === worker,
    );
    assert.equal(line.max_connections, 7, `worker ${worker} ignored the variable`);
  }
  supervisor.kill("SIGTERM");
  assert.equal((await within(supervisor.status, 8_000, "the supervisor to exit")).code, 0);
});
