/**
 * What gateway nodes and service processes say to each other over NATS: subjects and message
 * bodies. Documented in docs/cluster.md; both sides import it, so they cannot drift apart.
 *
 * Subjects, under a configurable prefix `P` (default `mmo`):
 * - `P.push`: a push for sessions anywhere; headers say who (`t`: session, user, group or
 *   all; `k`: the id or group; `x`: a session to skip; `u`: "1" to send it unreliably), the
 *   body is the encoded envelope.
 * - `P.svc.<service>.<method>`: a request or notify; service instances share it through the
 *   queue group `P.svc.<service>`.
 * - `P.node.<node id>`: session changes a remote service makes (join, leave, bind user, data).
 * - `P.auth.login`: logins every node announces, for `auth.duplicate_login`; the body is a
 *   JSON array of {@linkcode LoginTuple}s.
 * - `P.auth.query`: a `reject_new` login asks every node for a session of its user; the body is
 *   one {@linkcode LoginTuple}, a node holding the user answers with its own.
 *
 * @module
 */

/** Kinds of push target, as carried in the `t` header. */
export type PushTarget = "session" | "user" | "group" | "all";

/** Header names of a push message. */
export const PushHeader = { target: "t", key: "k", except: "x", unreliable: "u" } as const;

/** A route that can travel as a subject: `service.method`, each 1–64 of `[A-Za-z0-9_-]`. */
export const SUBJECT_ROUTE = /^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$/;

/** Subject names for one cluster prefix. */
export class Subjects {
  /** Creates subject names under `prefix`. */
  constructor(readonly prefix: string) {}
  /** Where pushes go. */
  get push(): string {
    return `${this.prefix}.push`;
  }
  /** Where a route's requests go. */
  route(route: string): string {
    return `${this.prefix}.svc.${route}`;
  }
  /** Every route of one service (a wildcard subscription). */
  service(name: string): string {
    return `${this.prefix}.svc.${name}.*`;
  }
  /** The queue group shared by a service's instances. */
  queue(name: string): string {
    return `${this.prefix}.svc.${name}`;
  }
  /** A node's control subject. */
  node(nodeId: string): string {
    return `${this.prefix}.node.${nodeId}`;
  }
  /** Where logins are announced to every node. */
  get logins(): string {
    return `${this.prefix}.auth.login`;
  }
  /** Where a `reject_new` login asks every node about its user. */
  get loginQuery(): string {
    return `${this.prefix}.auth.query`;
  }
}

/** A login as it travels between nodes: user, session, and the two parts of its stamp. */
export type LoginTuple = [user: string, session: string, wall: number, counter: number];

/** A request or notify as it travels to a service process. */
export interface ServiceCall {
  /** `request` expects a reply with data; `notify` only an acknowledgement. */
  kind: "request" | "notify";
  /** The node holding the session. */
  node: string;
  /** The calling session. */
  session: string;
  /** Its user, if bound. */
  user?: string;
  /** Its verified token's claims (`auth.mode: "jwt"`). */
  claims?: Readonly<Record<string, unknown>>;
  /** A snapshot of its session data. */
  sessionData: Record<string, unknown>;
  /** The envelope's `data`. */
  data: unknown;
}

/** A service's answer. */
export type ServiceReply =
  | { ok: true; data: unknown }
  | { ok: false; code: "unknown_route" | "internal_error"; message: string };

/** A change to a session that lives on another node. */
export type SessionChange =
  | { op: "join"; session: string; group: string }
  | { op: "leave"; session: string; group: string }
  | { op: "user"; session: string; user: string }
  | { op: "data"; session: string; key: string; value: unknown };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a JSON body. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes a JSON body. */
export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}
