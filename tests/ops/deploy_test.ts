/**
 * What can be checked of the Dockerfile and compose.yaml without a container engine: the image
 * runs the `gateway` task's command with everything it imports, its healthcheck works against a
 * real gateway, and the compose services are configured with valid config variables that agree
 * with the Prometheus and Grafana files they mount.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/config.ts";
import { parseConfigWithEnv, readEnvOverrides } from "../../src/config/config_env.ts";
import { startTestGateway } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
const exists = (path: string) => {
  try {
    Deno.statSync(new URL(path, ROOT));
    return true;
  } catch {
    return false;
  }
};

/** The Dockerfile's instructions in order: keyword and argument, continuations joined. */
function dockerfile(): Array<[string, string]> {
  const text = read("Dockerfile").replace(/\\\n\s*/g, "");
  return text.split("\n").filter((line) => line.trim() && !line.trimStart().startsWith("#"))
    .map((line) => {
      const [, keyword, rest] = /^\s*(\S+)\s*(.*)$/.exec(line)!;
      return [keyword.toUpperCase(), rest];
    });
}

function instructions(keyword: string): string[] {
  return dockerfile().filter(([k]) => k === keyword).map(([, rest]) => rest);
}

const defaults = parseConfig({});

Deno.test("the image runs the gateway task's command, as an unprivileged user", () => {
  const task = JSON.parse(read("deno.json")).tasks.gateway as string;
  assert.deepEqual(JSON.parse(instructions("ENTRYPOINT").at(-1)!), task.split(/\s+/));
  const users = instructions("USER");
  assert.ok(users.length > 0 && !["root", "0"].includes(users.at(-1)!), `USER ${users.at(-1)}`);
  // Deno from npm, at the version CI installs.
  const ci = /^DENO_VERSION=(\S+)$/m.exec(read(".ci/run"))?.[1];
  assert.ok(instructions("ARG").includes(`DENO_VERSION=${ci}`), `CI uses Deno ${ci}`);
  assert.ok(
    instructions("RUN").some((run) => run.includes('npm install -g "deno@${DENO_VERSION}"')),
  );
  assert.ok(instructions("RUN").includes("deno install --frozen"), "dependencies from deno.lock");
});

Deno.test("the image holds every module the gateway loads, and .dockerignore lets them in", async () => {
  const copied = instructions("COPY").flatMap((copy) =>
    copy.replace(/--\S+/g, "").trim().split(/\s+/).slice(0, -1)
  );
  for (const path of copied) assert.ok(exists(path), `COPY ${path}: no such file`);
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
  }).output();
  assert.ok(info.success, new TextDecoder().decode(info.stderr));
  const root = decodeURIComponent(ROOT.pathname);
  const local =
    (JSON.parse(new TextDecoder().decode(info.stdout)).modules as { specifier: string }[])
      .map((m) => m.specifier).filter((s) => s.startsWith("file://"))
      .map((s) => decodeURIComponent(new URL(s).pathname).slice(root.length));
  assert.ok(local.length > 20, `only ${local.length} local modules`);
  // Read at run time rather than imported: the permission sets, the default config file.
  for (const path of [...local, "deno.json", "deno.lock", "config/gateway.json"]) {
    assert.ok(
      copied.some((c) => path === c || path.startsWith(c.replace(/\/?$/, "/"))),
      `the image lacks ${path}`,
    );
  }
  // `*` first, then the copied paths back in.
  const ignore = read(".dockerignore").split("\n").filter((l) => l && !l.startsWith("#"));
  assert.equal(ignore[0], "*");
  for (const path of copied) {
    assert.ok(
      ignore.includes(`!${path}`) || ignore.includes(`!${path}/`),
      `.dockerignore: ${path}`,
    );
  }
});

Deno.test("the image exposes the default ports and its healthcheck probes /livez", async () => {
  assert.deepEqual(
    instructions("EXPOSE").join(" ").split(/\s+/).sort(),
    [
      `${defaults.websocket.port}/tcp`,
      `${defaults.metrics.port}/tcp`,
      `${defaults.quic.port}/udp`,
    ].sort(),
  );
  const healthcheck = instructions("HEALTHCHECK").at(-1)!;
  const command = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)) as string[];
  assert.ok(command.join(" ").includes("/livez"));
  // Run it as Docker would, with the metrics port in the environment, against a real gateway.
  const probe = async (port: number) =>
    (await new Deno.Command(command[0], {
      args: command.slice(1),
      env: { GATEWAY_METRICS_PORT: String(port) },
      stdout: "null",
      stderr: "null",
    }).output()).code;
  const gateway = startTestGateway();
  const port = gateway.metricsAddr!.port;
  try {
    assert.equal(await probe(port), 0, "healthy while the gateway runs");
  } finally {
    await gateway.shutdown();
  }
  assert.equal(await probe(port), 1, "unhealthy once it is gone");
});

interface ComposeService {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

const compose = parseYaml(read("compose.yaml"), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const gateways = Object.entries(compose.services).filter(([, s]) => s.build === ".");

/** `host:container/proto` port mappings of a service, as numbers. */
function ports(service: ComposeService): Array<{ host: number; container: number }> {
  return (service.ports ?? []).map((p) => {
    const [host, container] = p.split("/")[0].split(":").map(Number);
    return { host, container };
  });
}

/** `./source:target[:ro]` bind mounts of a service. */
function mounts(service: ComposeService): Map<string, string> {
  return new Map((service.volumes ?? []).map((v) => {
    const [source, target] = v.split(":");
    return [target, source.replace(/^\.\//, "")];
  }));
}

Deno.test("compose runs two gateway nodes clustered over NATS with valid config variables", () => {
  assert.equal(gateways.length, 2);
  const shipped = JSON.parse(read("config/gateway.json"));
  const nodeIds = new Set<string>();
  const hostPorts: number[] = [];
  for (const [name, service] of gateways) {
    const env = service.environment ?? {};
    const config = parseConfigWithEnv(
      shipped,
      readEnvOverrides(env, { file: "config/gateway.json" }),
      `compose.yaml ${name}`,
    );
    nodeIds.add(config.cluster.node_id);
    assert.ok(config.cluster.nats.servers.length > 0, `${name} is not clustered`);
    for (const url of config.cluster.nats.servers) {
      assert.ok(new URL(url).hostname in compose.services, `${name}: ${url} is no service`);
    }
    const published = ports(service);
    assert.deepEqual(
      published.map((p) => p.container).sort(),
      [config.websocket.port, config.metrics.port].sort(),
      `${name} publishes other ports than it listens on`,
    );
    hostPorts.push(...published.map((p) => p.host));
    const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? "")?.[1]);
    assert.ok(grace > config.shutdown.grace_sec, `${name}: stop_grace_period ${grace}`);
  }
  assert.equal(nodeIds.size, 2, "node ids must differ");
  assert.equal(new Set(hostPorts).size, hostPorts.length, "host ports collide");
});

Deno.test("compose's Prometheus scrapes both nodes with the alert rules, Grafana has the dashboard", () => {
  for (const service of Object.values(compose.services)) {
    for (const source of mounts(service).values()) {
      assert.ok(exists(source), `compose.yaml mounts ${source}, which does not exist`);
    }
  }
  const prometheus = mounts(compose.services.prometheus);
  const config = parseYaml(read(prometheus.get("/etc/prometheus/prometheus.yml")!)) as {
    rule_files: string[];
    scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  };
  assert.deepEqual(
    config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets)).sort(),
    gateways.map(([name]) => `${name}:${defaults.metrics.port}`).sort(),
  );
  assert.deepEqual(config.rule_files.map((f) => prometheus.get(f)), ["ops/prometheus/alerts.yml"]);

  const grafana = mounts(compose.services.grafana);
  const provisioning = grafana.get("/etc/grafana/provisioning")!;
  const dashboards = parseYaml(read(`${provisioning}/dashboards/gateway.yml`)) as {
    providers: Array<{ options: { path: string } }>;
  };
  const dashboardDir = dashboards.providers[0].options.path;
  assert.equal(grafana.get(`${dashboardDir}/gateway.json`), "ops/grafana/gateway.json");
  const sources = parseYaml(read(`${provisioning}/datasources/prometheus.yml`)) as {
    datasources: Array<{ type: string; url: string; isDefault: boolean }>;
  };
  const source = sources.datasources[0];
  assert.deepEqual([source.type, source.isDefault], ["prometheus", true]);
  const url = new URL(source.url);
  assert.ok(url.hostname in compose.services, `Grafana's data source ${url} is no service`);
  const prometheusPort = ports(compose.services.prometheus).map((p) => p.container);
  assert.deepEqual(prometheusPort, [Number(url.port)]);
});
