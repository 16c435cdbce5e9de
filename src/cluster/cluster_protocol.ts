/**
 * What gateway nodes and service processes say to each other over NATS: subjects and message
 * bodies. Documented in docs/cluster.md; both sides import it, so they cannot drift apart.
 *
 * Subjects, under a configurable prefix `P` (default `mmo`):
 * - `P.push`: a push for sessions anywhere; headers say who (`t`: session, user, group or
 *   all; `k`: the id or group; `x`: a session to skip; `u`: "1" to send it unreliably) and
 *   where it comes from (`o`: `<publisher>:<n>`, see {@linkcode PushSequencer}), the body is
 *   the encoded envelope.
 * - `P.svc.<service>.<method>`: a request or notify; service instances share it through the
 *   queue group `P.svc.<service>`.
 * - `P.node.<node id>`: session changes a remote service makes (join, leave, bind user, data).
 * - `P.auth.login`: logins every node announces, for `auth.duplicate_login`; the body is a
 *   JSON array of {@linkcode LoginTuple}s.
 * - `P.auth.query`: a `reject_new` login asks every node for a session of its user; the body is
 *   one {@linkcode LoginTuple}, a node holding the user answers with its own.
 * - `P.reg.announce`: every gateway node and service process says, every announce interval,
 *   who it is and which routes it serves (an {@linkcode Announcement}); on shutdown it says
 *   goodbye (a {@linkcode Withdrawal}) on the same subject.
 * - `P.resume.<node id>`: another node takes over a session this node holds (resume); the body
 *   is a {@linkcode TakeoverRequest}, the answer a {@linkcode TakeoverReply}.
 * - `P.reg.query`: a gateway that has just (re)connected asks every instance to announce now;
 *   each answers with its announcement on the query's reply subject, to that gateway only.
 * - `P.admin.<node id>`: the admin API asks one gateway node about its own sessions (list,
 *   get, kick, push, count); the body is a `NodeRequest` (`src/ops/admin_node.ts`) and the
 *   reply a `NodeReply`, both JSON.
 *
 * @module
 */
import type { PushOrigin, ResumeFailureReason } from "../core/protocol.ts";
import type { SessionIdentity, SessionSnapshot } from "../core/session_resumer.ts";

/** Kinds of push target, as carried in the `t` header. */
export type PushTarget = "session" | "user" | "group" | "all";

/** Header names of a push message. */
export const PushHeader = {
  target: "t",
  key: "k",
  except: "x",
  unreliable: "u",
  origin: "o",
} as const;

/**
 * Numbers a publisher's pushes (`o` header: `<publisher>:<n>`): a fresh random publisher id
 * per process, so a restarted process never reuses a number, and 1, 2, 3, ... NATS keeps one
 * publisher's messages in order, so every node can say which of a publisher's pushes it has
 * seen by one number, which a session takeover relies on.
 */
export class PushSequencer {
  /** This publisher's id. */
  readonly publisher: string = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  #seq = 0;

  /** The `o` header value of the next push. */
  next(): string {
    return `${this.publisher}:${++this.#seq}`;
  }
}

/** Reads an `o` header; undefined when absent or malformed. */
export function parseOrigin(value: string | undefined): PushOrigin | undefined {
  if (value === undefined) return undefined;
  const colon = value.lastIndexOf(":");
  const seq = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { publisher: value.slice(0, colon), seq };
}

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
  /** Where the admin API asks one gateway node about its sessions. */
  admin(nodeId: string): string {
    return `${this.prefix}.admin.${nodeId}`;
  }
  /** Where instances announce themselves and say goodbye. */
  get announce(): string {
    return `${this.prefix}.reg.announce`;
  }
  /** Where other nodes ask a node to hand over a session (resume). */
  resume(nodeId: string): string {
    return `${this.prefix}.resume.${nodeId}`;
  }
  /** Where a gateway asks every instance to announce now. */
  get query(): string {
    return `${this.prefix}.reg.query`;
  }
}

/** A login as it travels between nodes: user, session, and the two parts of its stamp. */
export type LoginTuple = [user: string, session: string, wall: number, counter: number];

/** Version of the registry messages; a message of another version is rejected as malformed. */
export const REGISTRY_VERSION = 1;

/** What kind of process an instance is. */
export type InstanceKind = "gateway" | "service";

/** Every {@linkcode InstanceKind}, for validation and metrics. */
export const INSTANCE_KINDS: readonly InstanceKind[] = ["gateway", "service"];

/** An instance id (a gateway's node id, a service process's id): 1–64 of `[A-Za-z0-9_-]`. */
export const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * An instance's heartbeat on `P.reg.announce`: who it is and what it serves. Sent every
 * announce interval, at start, after a reconnect, and in answer to a query.
 */
export interface Announcement {
  /** {@linkcode REGISTRY_VERSION}. */
  v: typeof REGISTRY_VERSION;
  /** An announcement. */
  op: "announce";
  /** The instance id ({@linkcode INSTANCE_ID}); a gateway's is its node id. */
  id: string;
  /** A gateway node or a service process. */
  kind: InstanceKind;
  /** When the instance started, ms since the epoch; a new value means it restarted. */
  started: number;
  /** How often it announces, ms. */
  interval_ms: number;
  /** A gateway's live sessions. */
  sessions?: number;
  /**
   * Service name to method names, e.g. `{"chat":["join","say"]}`. A service process serves
   * them over NATS; a gateway serves them embedded, to its own players only.
   */
  services: Record<string, string[]>;
}

/** An instance's goodbye on `P.reg.announce`, sent when it shuts down. */
export interface Withdrawal {
  /** {@linkcode REGISTRY_VERSION}. */
  v: typeof REGISTRY_VERSION;
  /** A goodbye. */
  op: "bye";
  /** The instance id. */
  id: string;
}

/** A message on `P.reg.announce`. */
export type RegistryMessage = Announcement | Withdrawal;

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

/** How far a node has seen each publisher's pushes: `[publisher, n]` pairs. */
export type PushCuts = [publisher: string, seq: number][];

/** A node asks the node holding a session to move it (on `P.resume.<node id>`). */
export interface TakeoverRequest {
  /** `prepare`: who is it (nothing moves); `commit`: hand it over. */
  op: "prepare" | "commit";
  /** The session id, from the resume token. */
  session: string;
  /** The token's secret. */
  secret: string;
  /** The client's `last_seq`. */
  last_seq: number;
  /** `commit`: how far the asking node had seen the push stream when it joined the session's
   * groups; the holder waits until it has seen as far before it hands over. */
  cuts?: PushCuts;
}

/** The holder's answer to a {@linkcode TakeoverRequest}. */
export type TakeoverReply =
  | { ok: true; identity: SessionIdentity }
  | { ok: true; snapshot: SessionSnapshot; cuts: PushCuts }
  | { ok: false; reason: ResumeFailureReason };

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
