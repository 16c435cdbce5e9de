/**
 * Reading metric names out of PromQL (Grafana panels, Prometheus rules) and out of a Prometheus
 * text exposition, so tests can check that every metric a query needs is exported.
 */

/** Words of PromQL that look like metric names but are not. */
const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
  "atan2",
]);

/**
 * The metric names a PromQL expression selects, e.g. `gateway_message_handling_seconds_bucket`
 * from `histogram_quantile(0.99, sum by (le) (rate(gateway_message_handling_seconds_bucket[5m])))`.
 * Grafana's variables (`$__rate_interval`, `${instance}`) may appear anywhere, and a Grafana
 * variable query `label_values(<selector>, <label>)` yields the selector's metric.
 */
export function promqlMetrics(expr: string): Set<string> {
  const labelValues = /^\s*label_values\s*\((.*)\)\s*$/s.exec(expr);
  if (labelValues) {
    const comma = labelValues[1].lastIndexOf(",");
    // With one argument, it is a label name; with two, a selector and a label name.
    return comma < 0 ? new Set() : promqlMetrics(labelValues[1].slice(0, comma));
  }
  const text = expr
    // Grafana variables.
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    // String literals, with escapes.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    // Label matchers, ranges and subqueries.
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    // Label lists of grouping and vector matching, with their keyword, so that an aggregation
    // such as `sum by (le) (...)` is seen followed by its parenthesis.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    // Durations (offset 5m) and numbers (0.99, 1e3, 0x1f).
    .replace(/\b(\d+(ms|s|m|h|d|w|y))+\b/g, " ")
    .replace(/\b0x[0-9a-f]+\b|(\b\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\b/gi, " ");
  const names = new Set<string>();
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const after = text.slice(match.index + word.length);
    if (/^\s*\(/.test(after)) continue; // a function or an aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return names;
}

/** Families in a Prometheus text exposition: name to type, from the `# TYPE` lines. */
export function exportedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    families.set(match[1], match[2]);
  }
  return families;
}

/** The suffixes of the series a histogram family exports. */
const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"];

/**
 * The family a queried series belongs to, given the known families: the name itself, or for
 * `<histogram>_bucket`, `_sum` and `_count` the histogram. Undefined if no family has it.
 */
export function familyOf(
  series: string,
  families: ReadonlyMap<string, string>,
): string | undefined {
  if (families.has(series)) return series;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = series.endsWith(suffix) ? series.slice(0, -suffix.length) : undefined;
    if (base !== undefined && families.get(base) === "histogram") return base;
  }
  return undefined;
}

/** The family name a series would have if it were a histogram's, else the series itself. */
export function histogramBase(series: string): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (series.endsWith(suffix)) return series.slice(0, -suffix.length);
  }
  return series;
}
