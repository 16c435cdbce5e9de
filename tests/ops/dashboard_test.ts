/**
 * The Grafana dashboard (ops/grafana/gateway.json) and the Prometheus alert rules
 * (ops/prometheus/alerts.yml) query only metrics a running gateway exports.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { mergeWorkerMetrics } from "../../src/cluster/metrics_merge.ts";
import { scrape, startTestGateway, waitFor } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";
import { exportedFamilies, familyOf, histogramBase, promqlMetrics } from "../_promql.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * Metrics the dashboard and alerts query before the feature that exports them has landed.
 * Remove an entry when its feature lands: the test fails while a listed metric is exported.
 */
const NOT_YET_EXPORTED: ReadonlyMap<string, string> = new Map([]);

/** Series Prometheus makes itself for every target, not exported by the gateway. */
const PROMETHEUS_OWN = new Set(["up"]);

interface Target {
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: {
    list: Array<{ name: string; type: string; query?: unknown; datasource?: { uid?: string } }>;
  };
}
interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard: Dashboard = JSON.parse(
  await Deno.readTextFile(new URL("ops/grafana/gateway.json", ROOT)),
);
const rules: AlertRule[] = (parseYaml(
  await Deno.readTextFile(new URL("ops/prometheus/alerts.yml", ROOT)),
) as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap((group) => group.rules);

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every PromQL expression of the dashboard, with where it is. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const queries = allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))
  );
  for (const variable of dashboard.templating.list) {
    if (variable.type !== "query") continue;
    const query = variable.query as string | { query: string };
    const expr = typeof query === "string" ? query : query.query;
    queries.push({ where: `variable $${variable.name}`, expr });
  }
  return queries;
}

/** The metrics of a gateway in cluster mode, as one node and as a --workers supervisor. */
async function gatewayExposition(): Promise<{ single: string; merged: string }> {
  await using nats = new NatsServer();
  await nats.start();
  const gateway = startTestGateway({ cluster: { nats: { servers: [nats.url] } } });
  try {
    await waitFor(() => gateway.health().cluster?.nats === "connected", 5_000, "NATS");
    const single = await scrape(gateway);
    return { single, merged: mergeWorkerMetrics([single, await scrape(gateway)]) };
  } finally {
    await gateway.shutdown();
  }
}

const exposition = await gatewayExposition();
const families = new Map([
  ...exportedFamilies(exposition.single),
  ...exportedFamilies(exposition.merged),
]);

/** The metrics of `expr` that no gateway exports and no listed feature will export. */
function missing(expr: string): string[] {
  return [...promqlMetrics(expr)].filter((series) =>
    familyOf(series, families) === undefined && !PROMETHEUS_OWN.has(series) &&
    !NOT_YET_EXPORTED.has(histogramBase(series)) && !NOT_YET_EXPORTED.has(series)
  );
}

Deno.test("promqlMetrics reads the metric names of a query and nothing else", () => {
  const cases: Array<[string, string[]]> = [
    ["rate(gateway_messages_received_total[1m])", ["gateway_messages_received_total"]],
    [
      "histogram_quantile(0.99, sum by (le) (rate(gateway_message_handling_seconds_bucket[5m])))",
      ["gateway_message_handling_seconds_bucket"],
    ],
    [
      'sum without (worker) (rate(gateway_disconnects_total{reason="heartbeat_timeout", ' +
      'instance=~"$instance"}[$__rate_interval])) > 1e3',
      ["gateway_disconnects_total"],
    ],
    ["process_open_fds / on (instance) group_left process_max_fds > 0.9", [
      "process_open_fds",
      "process_max_fds",
    ]],
    ['up{job="gateway"} == 0 unless gateway_nats_connected offset 1h30m', [
      "up",
      "gateway_nats_connected",
    ]],
    ['time() - process_start_time_seconds{instance=~"${instance}"}', [
      "process_start_time_seconds",
    ]],
    ['count(x_total{a="b) (c"}) bool 2', ["x_total"]],
    ['label_values(gateway_sessions_active{job="gateway"}, instance)', [
      "gateway_sessions_active",
    ]],
    ["label_values(instance)", []],
  ];
  for (const [expr, names] of cases) assert.deepEqual([...promqlMetrics(expr)], names, expr);
});

Deno.test("every metric the dashboard queries is exported by a running gateway", () => {
  const queries = dashboardQueries();
  assert.ok(queries.length >= 20, `only ${queries.length} queries`);
  const problems = queries.flatMap(({ where, expr }) =>
    missing(expr).map((series) => `${where}: ${series} (in ${expr})`)
  );
  assert.deepEqual(problems, [], "queried but not exported:\n" + problems.join("\n"));
});

Deno.test("the not-yet-exported list holds only metrics still missing and still queried", () => {
  const queried = new Set(
    [...dashboardQueries().map((q) => q.expr), ...rules.map((r) => r.expr)].flatMap((expr) =>
      [...promqlMetrics(expr)].map(histogramBase)
    ),
  );
  for (const [name, feature] of NOT_YET_EXPORTED) {
    assert.ok(
      !families.has(name),
      `${name} is exported now (${feature} landed): remove it from NOT_YET_EXPORTED`,
    );
    assert.ok(queried.has(name), `${name} is listed as not yet exported but nothing queries it`);
  }
});

Deno.test("the dashboard answers each question operators ask of the gateway", () => {
  const queried = new Set(
    dashboardQueries().flatMap(({ expr }) => [...promqlMetrics(expr)].map(histogramBase)),
  );
  const questions: Record<string, string[]> = {
    "sessions by transport": ["gateway_connections_active"],
    "connects and disconnects by reason": [
      "gateway_connections_total",
      "gateway_connections_rejected_total",
      "gateway_disconnects_total",
    ],
    "messages and bytes per second": [
      "gateway_messages_received_total",
      "gateway_messages_sent_total",
      "gateway_bytes_received_total",
      "gateway_bytes_sent_total",
    ],
    "handling latency p50/p99": ["gateway_message_handling_seconds"],
    "RTT": ["gateway_session_rtt_seconds"],
    "fds against the limit": ["process_open_fds", "process_max_fds"],
    "event-loop lag": ["gateway_event_loop_lag_seconds", "gateway_event_loop_lag_max_seconds"],
    "NATS state": ["gateway_nats_connected"],
    "auth results": ["gateway_auth_total"],
    "resume results": ["gateway_resumes_total"],
    "slow consumers and floods": ["gateway_outbound_dropped_total", "gateway_rate_limited_total"],
  };
  for (const [question, metrics] of Object.entries(questions)) {
    for (const metric of metrics) {
      assert.ok(queried.has(metric), `no panel for ${question}: nothing queries ${metric}`);
    }
  }
});

Deno.test("every dashboard panel queries through the data-source variable", () => {
  const variable = dashboard.templating.list.find((v) => v.name === "datasource");
  assert.equal(variable?.type, "datasource");
  assert.equal(variable?.query, "prometheus");
  for (const panel of allPanels(dashboard.panels)) {
    if (panel.type === "row") continue;
    assert.equal(panel.datasource?.uid, "${datasource}", `panel "${panel.title}"`);
    assert.ok(panel.targets?.length, `panel "${panel.title}" has no query`);
    for (const target of panel.targets!) {
      assert.equal(target.datasource?.uid, "${datasource}", `a query of "${panel.title}"`);
    }
  }
  const instance = dashboard.templating.list.find((v) => v.name === "instance");
  assert.equal(instance?.datasource?.uid, "${datasource}");
});

Deno.test("alert rules are complete and query only exported metrics", () => {
  const names = rules.map((rule) => rule.alert);
  for (
    const required of [
      "GatewayFileDescriptorsNearLimit",
      "GatewayEventLoopLag",
      "GatewayNatsDown",
      "GatewayErrorRate",
    ]
  ) assert.ok(names.includes(required), `no ${required} alert`);
  assert.equal(new Set(names).size, names.length, "alert names repeat");
  for (const rule of rules) {
    assert.ok(rule.alert, `a rule without a name: ${rule.expr}`);
    assert.ok(
      ["warning", "critical"].includes(rule.labels?.severity ?? ""),
      `${rule.alert}: severity`,
    );
    assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: text`);
    if (rule.for !== undefined) assert.match(rule.for, /^\d+[smh]$/, `${rule.alert}: for`);
    assert.deepEqual(missing(rule.expr), [], `${rule.alert} queries metrics nobody exports`);
  }
  const fds = rules.find((r) => r.alert === "GatewayFileDescriptorsNearLimit")!;
  assert.deepEqual([...promqlMetrics(fds.expr)].sort(), ["process_max_fds", "process_open_fds"]);
});

Deno.test("the --workers merge of real gateway metrics is a valid exposition", () => {
  const types = new Map<string, number>();
  for (const line of exposition.merged.trimEnd().split("\n")) {
    const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      types.set(type[1], (types.get(type[1]) ?? 0) + 1);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    assert.match(
      line,
      /^[a-z_:][a-z0-9_:]*\{worker="\d+"(,[a-z_]+="[^"]*")*\} -?[0-9.e+-]+(Inf)?$/,
      "a sample without its worker label or not in Prometheus text format",
    );
    const family = familyOf(line.slice(0, line.indexOf("{")), families);
    assert.ok(family !== undefined && types.has(family), `sample before its TYPE: ${line}`);
  }
  for (const [family, count] of types) assert.equal(count, 1, `${family} has ${count} TYPE lines`);
  for (
    const name of [
      "process_open_fds",
      "process_max_fds",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "gateway_workers_up",
    ]
  ) assert.ok(types.has(name), `${name} missing from the merged metrics`);
});
