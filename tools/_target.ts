/**
 * The flags both tools share to say where and how to connect: `-addr`, `-path`, `-transport`,
 * `-ca`, `-connect-timeout`.
 *
 * @module
 */
import { intFlag, UsageError } from "../src/config/cli_args.ts";
import { CLIENT_TRANSPORTS, type ClientTransport } from "./_client_connection.ts";

/** Where the tools connect, parsed from their flags. */
export interface Target {
  /** The transport to speak. */
  transport: ClientTransport;
  /** Host name or address, without IPv6 brackets. */
  hostname: string;
  /** Port. */
  port: number;
  /** WebSocket upgrade path. */
  path: string;
  /** Extra trusted CA certificates (PEM), from `-ca`. */
  caCerts?: string[];
  /** How long one connection attempt may take, from `-connect-timeout`. */
  timeoutMs: number;
}

/** Usage lines for the shared flags, aligned like the tools' own. */
export const TARGET_USAGE =
  `  -addr <host:port>     gateway address (default localhost:8081, with quic localhost:8082)
  -path <path>          WebSocket path (default /ws)
  -transport <ws|quic>  transport (default ws; available: ${CLIENT_TRANSPORTS.join(", ")})
  -ca <file>            PEM CA certificate to trust (QUIC's dev CA)
  -connect-timeout <ms> give up connecting after this long (default 10000)`;

/** `node:util` option table for the shared flags. */
export const TARGET_OPTIONS = {
  addr: { type: "string" },
  path: { type: "string", default: "/ws" },
  transport: { type: "string", default: "ws" },
  ca: { type: "string" },
  "connect-timeout": { type: "string" },
} as const;

/**
 * Reads the shared flags.
 *
 * @throws {UsageError} naming the flag that is wrong.
 */
export async function parseTarget(flags: {
  addr?: string;
  path: string;
  transport: string;
  ca?: string;
  "connect-timeout"?: string;
}): Promise<Target> {
  const timeoutMs = intFlag("connect-timeout", flags["connect-timeout"], 10_000, 1, 600_000);
  // The gateway's default ports: websocket.port 8081, quic.port 8082.
  const addr = flags.addr ?? (flags.transport === "quic" ? "localhost:8082" : "localhost:8081");
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new UsageError(
      `Invalid value for --addr: "${addr}" is not host:port with a port from 1 to 65535`,
    );
  }
  if (!flags.path.startsWith("/")) {
    throw new UsageError(`Invalid value for --path: "${flags.path}" does not start with /`);
  }
  if (!(CLIENT_TRANSPORTS as readonly string[]).includes(flags.transport)) {
    throw new UsageError(
      `Invalid value for --transport: "${flags.transport}" is not one of ${
        CLIENT_TRANSPORTS.join(", ")
      }`,
    );
  }
  let caCerts: string[] | undefined;
  if (flags.ca !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(flags.ca)];
    } catch (error) {
      throw new UsageError(`Cannot read --ca file ${flags.ca}: ${(error as Error).message}`);
    }
  }
  return {
    transport: flags.transport as ClientTransport,
    hostname: match[1] ?? match[2],
    port,
    path: flags.path,
    caCerts,
    timeoutMs,
  };
}

/** The target as a URL-like string for messages and reports. */
export function describeTarget(t: Target): string {
  const host = t.hostname.includes(":") ? `[${t.hostname}]` : t.hostname;
  return t.transport === "ws" ? `ws://${host}:${t.port}${t.path}` : `quic://${host}:${t.port}`;
}
