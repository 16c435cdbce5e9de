/**
 * Where the client connects: one URL, or one per transport, and the order it tries them in.
 *
 * @module
 */
import type { TransportKind } from "./client_transport.ts";

/** The gateway's URL for each transport it offers. */
export interface GatewayUrls {
  /** `ws://host:port/ws` or `wss://...`. */
  websocket?: string | URL;
  /** `https://host:port/<path>` of the gateway's WebTransport endpoint. */
  webtransport?: string | URL;
}

/**
 * Where to connect: a `ws(s)://` URL (WebSocket), an `https://` URL (WebTransport), or both in
 * a {@linkcode GatewayUrls} so that `auto` can fall back from one to the other.
 */
export type GatewayUrl = string | URL | GatewayUrls;

/**
 * Which transport to use. `auto` tries WebTransport when the runtime has it and a WebTransport
 * URL is given, then WebSocket.
 */
export type TransportChoice = "auto" | "websocket" | "webtransport";

/** One way to reach the gateway. */
export interface ConnectTarget {
  /** The transport. */
  kind: TransportKind;
  /** Its URL. */
  url: string;
}

function urlsOf(url: GatewayUrl): GatewayUrls {
  if (typeof url !== "string" && !(url instanceof URL)) return url;
  const parsed = new URL(url);
  if (parsed.protocol === "ws:" || parsed.protocol === "wss:") return { websocket: parsed };
  if (parsed.protocol === "https:") return { webtransport: parsed };
  throw new TypeError(
    `Cannot connect to ${parsed.href}: the scheme must be ws: or wss: (WebSocket) or https: ` +
      `(WebTransport)`,
  );
}

/**
 * The targets to try, in order.
 *
 * @throws {TypeError} when no URL fits `choice`, or `webtransport` is asked for in a runtime
 * without WebTransport.
 */
export function connectTargets(
  url: GatewayUrl,
  choice: TransportChoice,
  hasWebTransport: boolean,
): ConnectTarget[] {
  const urls = urlsOf(url);
  const websocket = urls.websocket === undefined ? undefined : new URL(urls.websocket);
  const webtransport = urls.webtransport === undefined ? undefined : new URL(urls.webtransport);
  if (websocket && websocket.protocol !== "ws:" && websocket.protocol !== "wss:") {
    throw new TypeError(
      `Cannot use ${websocket.href} for WebSocket: the scheme must be ws: or wss:`,
    );
  }
  if (webtransport && webtransport.protocol !== "https:") {
    throw new TypeError(
      `Cannot use ${webtransport.href} for WebTransport: the scheme must be https:`,
    );
  }
  const targets: ConnectTarget[] = [];
  if (choice !== "websocket" && webtransport) {
    if (hasWebTransport) targets.push({ kind: "webtransport", url: webtransport.href });
    else if (choice === "webtransport") {
      throw new TypeError("Cannot use WebTransport: this runtime has no WebTransport");
    }
  }
  if (choice !== "webtransport" && websocket) {
    targets.push({ kind: "websocket", url: websocket.href });
  }
  if (targets.length === 0) {
    throw new TypeError(`Cannot connect with transport "${choice}": no URL for it was given`);
  }
  return targets;
}
