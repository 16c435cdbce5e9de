/**
 * Config from the environment. Every config field can be set by a variable named after its
 * path, upper-cased, with `_` between the parts: `websocket.port` is `GATEWAY_WEBSOCKET_PORT`,
 * `cluster.nats.servers` is `GATEWAY_CLUSTER_NATS_SERVERS`. The names are derived from the
 * schema (its JSON Schema), so a section added to the schema gets its variables with no list to
 * keep. Variables apply on top of the config file and are validated together with it.
 *
 * Values parse by the field's type: numbers in decimal, booleans as `true` or `false`, strings
 * as they are, lists as a JSON array or comma-separated (items trimmed; an empty value is the
 * empty list), anything else (records, lists of objects) as JSON.
 *
 * Every `GATEWAY_*` variable that is not one the caller reserves (`GATEWAY_CONFIG`, ...) must
 * name a field: a typo stops the gateway instead of being ignored.
 *
 * @module
 */
import { z } from "zod";
import {
  checkConfig,
  ConfigError,
  type ConfigProblem,
  describeProblem,
  type GatewayConfig,
  gatewayConfigSchema,
  readConfigFile,
} from "./config.ts";

/** The prefix of every config variable. */
export const ENV_PREFIX = "GATEWAY_";

/** How a scalar value is read from its variable. */
export type EnvScalarKind = "integer" | "number" | "boolean" | "string";

/** How a variable's value becomes a config value. */
export type EnvValueKind = EnvScalarKind | "list" | "json";

/** A config field that a variable sets. */
export interface EnvField {
  /** The variable, e.g. `GATEWAY_WEBSOCKET_PORT`. */
  readonly name: string;
  /** The field's path, e.g. `["websocket", "port"]`. */
  readonly path: readonly string[];
  /** How the value parses. */
  readonly kind: EnvValueKind;
  /** For `list`: how each comma-separated item parses. */
  readonly item?: EnvScalarKind;
}

/** The config variables and the sections they belong to, derived from a schema. */
export interface EnvTable {
  /** Every settable field, by variable name. */
  readonly fields: ReadonlyMap<string, EnvField>;
  /** Every section, by the prefix its variables share (`GATEWAY_CLUSTER_NATS`). */
  readonly sections: ReadonlyMap<string, readonly string[]>;
}

/** A config value taken from a variable. */
export interface EnvOverride {
  /** The variable. */
  readonly name: string;
  /** The field it sets. */
  readonly path: readonly string[];
  /** The parsed value, before validation. */
  readonly value: unknown;
}

/** A JSON Schema node, as far as the walk below reads it. */
interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  enum?: unknown[];
}

/** Field names that make unambiguous variable parts: `_` only ever joins words. */
const FIELD_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

function scalarKind(node: SchemaNode | undefined): EnvScalarKind | undefined {
  if (node === undefined) return undefined;
  if (node.enum) {
    if (node.enum.every((v) => typeof v === "string")) return "string";
    if (node.enum.every((v) => typeof v === "number")) return "number";
    return undefined;
  }
  switch (node.type) {
    case "integer":
    case "number":
    case "boolean":
    case "string":
      return node.type;
  }
  return undefined;
}

function fieldKind(node: SchemaNode): Pick<EnvField, "kind" | "item"> {
  const scalar = scalarKind(node);
  if (scalar) return { kind: scalar };
  const item = node.type === "array" ? scalarKind(node.items) : undefined;
  return item ? { kind: "list", item } : { kind: "json" };
}

/**
 * Derives the variable of every field of `schema` (default: the gateway's).
 *
 * @throws {TypeError} when a field name cannot make a variable part, or two fields would share
 * a variable (`cluster.nats_servers` beside `cluster.nats.servers`), or a field's variable is
 * one of the `reserved` names.
 */
export function envTable(
  schema: z.ZodType = gatewayConfigSchema,
  reserved: readonly string[] = [],
): EnvTable {
  const fields = new Map<string, EnvField>();
  const sections = new Map<string, string[]>();
  const walk = (node: SchemaNode, path: string[]) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (path.length === 0 && key === "$schema") continue;
      const here = [...path, key];
      if (!FIELD_NAME.test(key)) {
        throw new TypeError(
          `Cannot name an environment variable for config field ${here.join(".")}: use ` +
            "lower-case words joined by single underscores",
        );
      }
      const name = ENV_PREFIX + here.join("_").toUpperCase();
      if (child.type === "object" && child.properties) {
        sections.set(name, here);
        walk(child, here);
        continue;
      }
      const taken = fields.get(name);
      if (taken) {
        throw new TypeError(
          `Cannot name environment variables for config fields ${taken.path.join(".")} and ` +
            `${here.join(".")}: both would be ${name}; rename one`,
        );
      }
      if (reserved.includes(name)) {
        throw new TypeError(
          `Cannot name an environment variable for config field ${here.join(".")}: ${name} ` +
            "is reserved for another purpose",
        );
      }
      fields.set(name, { name, path: here, ...fieldKind(child) });
    }
  };
  walk(z.toJSONSchema(schema, { io: "input" }) as SchemaNode, []);
  return { fields, sections };
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseScalar(kind: EnvScalarKind, text: string): unknown {
  switch (kind) {
    case "string":
      return text;
    case "boolean": {
      const word = text.trim();
      if (word === "true" || word === "false") return word === "true";
      throw new TypeError(`expected true or false, got ${JSON.stringify(text)}`);
    }
    case "integer":
    case "number": {
      const number = text.trim();
      if (DECIMAL.test(number)) return Number(number);
      throw new TypeError(`expected a decimal number, got ${JSON.stringify(text)}`);
    }
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TypeError(`expected ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Parses one variable's text as its field's value (see the module doc for the rules).
 *
 * @throws {TypeError} saying what was expected.
 */
export function parseEnvValue(field: EnvField, text: string): unknown {
  if (field.kind === "json") return parseJson(text, "JSON");
  if (field.kind !== "list") return parseScalar(field.kind, text);
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    const list = parseJson(trimmed, "a JSON array");
    if (!Array.isArray(list)) throw new TypeError("expected a JSON array");
    return list;
  }
  if (trimmed === "") return [];
  return trimmed.split(",").map((item) => parseScalar(field.item!, item.trim()));
}

function unknownVariable(name: string, table: EnvTable): string {
  const section = table.sections.get(name);
  const inSection = (prefix: string) =>
    [...table.fields.keys()].filter((field) => field.startsWith(prefix + "_"));
  if (section) {
    return `${section.join(".")} is a section; set its fields: ${inSection(name).join(", ")}`;
  }
  const parent = [...table.sections.keys()].filter((prefix) => name.startsWith(prefix + "_"))
    .sort((a, b) => b.length - a.length)[0];
  if (parent) {
    return `no such config field; ${table.sections.get(parent)!.join(".")} has ` +
      inSection(parent).join(", ");
  }
  return "no such config field (every GATEWAY_* variable must name one, e.g. " +
    "GATEWAY_WEBSOCKET_PORT for websocket.port)";
}

/** Options for {@linkcode readEnvOverrides} and {@linkcode loadConfigWithEnv}. */
export interface EnvOverrideOptions {
  /** `GATEWAY_*` variables read for other purposes (`GATEWAY_CONFIG`), not config fields. */
  reserved?: readonly string[];
  /** The file the overrides apply to, for error messages. */
  file?: string;
}

/**
 * The config values the `GATEWAY_*` variables of `env` set, sorted by variable name.
 *
 * @throws {ConfigError} naming the first variable that names no field or does not parse.
 */
export function readEnvOverrides(
  env: Readonly<Record<string, string | undefined>>,
  options: EnvOverrideOptions = {},
): EnvOverride[] {
  const reserved = options.reserved ?? [];
  const table = envTable(gatewayConfigSchema, reserved);
  const overrides: EnvOverride[] = [];
  const names = Object.keys(env).filter((name) => name.startsWith(ENV_PREFIX)).sort();
  for (const name of names) {
    const text = env[name];
    if (text === undefined || reserved.includes(name)) continue;
    const fail = (message: string, cause?: unknown) =>
      new ConfigError(options.file ?? "<inline>", message, { variable: name, cause });
    const field = table.fields.get(name);
    if (!field) throw fail(unknownVariable(name, table));
    try {
      overrides.push({ name, path: field.path, value: parseEnvValue(field, text) });
    } catch (error) {
      throw fail((error as Error).message, error);
    }
  }
  return overrides;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `input` with every override set; a section the file holds as a non-object stays as it is. */
function withOverrides(input: unknown, overrides: readonly EnvOverride[]): unknown {
  if (!isRecord(input)) return input;
  const merged = structuredClone(input);
  for (const { path, value } of overrides) {
    let node: Record<string, unknown> = merged;
    let reachable = true;
    for (const key of path.slice(0, -1)) {
      node[key] ??= {};
      const next = node[key];
      if (!isRecord(next)) {
        reachable = false;
        break;
      }
      node = next;
    }
    if (reachable) node[path[path.length - 1]] = value;
  }
  return merged;
}

/** The override whose field holds the problem's path, if any. */
function culprit(problem: ConfigProblem, overrides: readonly EnvOverride[]) {
  return overrides.find((o) => o.path.every((key, i) => problem.path[i] === key));
}

/** Where in a variable's value a problem is, e.g. `item "http://b": `; empty for the whole. */
function where(problem: ConfigProblem, override: EnvOverride): string {
  const rest = problem.path.slice(override.path.length);
  if (rest.length === 0) return "";
  if (Array.isArray(override.value) && rest.length === 1 && typeof rest[0] === "number") {
    return `item ${JSON.stringify(override.value[rest[0]])}: `;
  }
  return `at ${rest.map(String).join(".")}: `;
}

/**
 * Validates a parsed config file with `overrides` applied on top.
 *
 * @throws {ConfigError} listing every problem, each named by its variable when one set the
 * field, else by its field path; the message starts `Invalid environment <variable>` when only
 * variables are at fault, `Invalid config <file>` otherwise.
 */
export function parseConfigWithEnv(
  input: unknown,
  overrides: readonly EnvOverride[],
  file = "<inline>",
): GatewayConfig {
  const { config, problems } = checkConfig(withOverrides(input, overrides));
  if (config) return config;
  const described = problems.map((problem) => {
    const override = culprit(problem, overrides);
    if (!override) return { variable: undefined, text: describeProblem(problem) };
    return { variable: override.name, text: `${where(problem, override)}${problem.message}` };
  });
  const first = described[0];
  if (described.every((d) => d.variable !== undefined)) {
    const text = described.map((d, i) =>
      i === 0 || d.variable === first.variable ? d.text : `${d.variable}: ${d.text}`
    ).join("; ");
    throw new ConfigError(file, text, { variable: first.variable });
  }
  // A cross-field problem may come from a variable's value; say which variables were set.
  const set = overrides.length > 0
    ? ` (with ${overrides.map((o) => o.name).join(", ")} from the environment)`
    : "";
  throw new ConfigError(
    file,
    described.map((d) => d.variable === undefined ? d.text : `${d.variable}: ${d.text}`)
      .join("; ") + set,
  );
}

/** A config loaded from a file (or the defaults) and the environment. */
export interface LoadedConfig {
  /** The validated config. */
  readonly config: GatewayConfig;
  /** False when the optional default file was missing and the built-in defaults were used. */
  readonly fromFile: boolean;
  /** The variables that set fields, by name (values are not kept: they may be secrets). */
  readonly variables: readonly string[];
}

/**
 * Reads a config file (see {@linkcode readConfigFile}), applies the `GATEWAY_*` variables of
 * `env` on top and validates the result.
 *
 * @throws {ConfigError} naming the file or the variable at fault.
 */
export async function loadConfigWithEnv(
  file: string,
  required: boolean,
  env: Readonly<Record<string, string | undefined>>,
  options: EnvOverrideOptions = {},
): Promise<LoadedConfig> {
  const { input, fromFile } = await readConfigFile(file, required);
  const overrides = readEnvOverrides(env, { ...options, file });
  return {
    config: parseConfigWithEnv(input, overrides, file),
    fromFile,
    variables: overrides.map((o) => o.name),
  };
}
