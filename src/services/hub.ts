/**
 * The node-local view of who is where: sessions by user id and by group. Pushes end here,
 * whichever node they started on; the hub encodes nothing and writes pre-encoded envelopes, so
 * a fan-out to a thousand members costs one `JSON.stringify`.
 *
 * @module
 */
import type { EncodedPush } from "../core/protocol.ts";
import type { Disconnect } from "../core/disconnect.ts";
import type { Session } from "../core/session.ts";
import type { SessionEvents, SessionManager } from "../core/session_manager.ts";

/** What the hub writes pushes through (the gateway's `SessionWriter`). */
export interface PushWriter {
  /** Writes one encoded push to a session; false when it can no longer send. */
  sendPush(session: Session, push: EncodedPush): boolean;
}

/** Group names and user ids are bounded so a buggy service cannot grow keys without limit. */
const MAX_NAME_LENGTH = 256;

function checkName(kind: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new TypeError(`Invalid ${kind}: must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
}

/** Sessions by user and by group on this node; empties itself as sessions close. */
export class Hub implements SessionEvents {
  readonly #sessions: SessionManager;
  readonly #writer: PushWriter;
  readonly #users = new Map<string, Set<Session>>();
  readonly #groups = new Map<string, Set<Session>>();
  readonly #memberships = new Map<Session, Set<string>>();

  /** Creates an empty hub over `sessions`, writing through `writer`. */
  constructor(sessions: SessionManager, writer: PushWriter) {
    this.#sessions = sessions;
    this.#writer = writer;
  }

  /**
   * Marks `session` as belonging to `userId` (after the game's login, say).
   *
   * @throws {TypeError} for an empty or overlong user id.
   */
  bindUser(session: Session, userId: string): void {
    checkName("user id", userId);
    if (session.userId === userId) return;
    this.#unbindUser(session);
    session.userId = userId;
    let set = this.#users.get(userId);
    if (!set) this.#users.set(userId, set = new Set());
    set.add(session);
  }

  /**
   * Adds `session` to `group`, creating the group.
   *
   * @throws {TypeError} for an empty or overlong group name.
   */
  join(session: Session, group: string): void {
    checkName("group name", group);
    if (this.#sessions.get(session.id) !== session) return; // already closed
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, members = new Set());
    members.add(session);
    let groups = this.#memberships.get(session);
    if (!groups) this.#memberships.set(session, groups = new Set());
    groups.add(group);
  }

  /** Removes `session` from `group`; an emptied group is deleted. */
  leave(session: Session, group: string): void {
    const members = this.#groups.get(group);
    if (!members?.delete(session)) return;
    if (members.size === 0) this.#groups.delete(group);
    const groups = this.#memberships.get(session);
    groups?.delete(group);
    if (groups?.size === 0) this.#memberships.delete(session);
  }

  /** Groups `session` is in. */
  groupsOf(session: Session): readonly string[] {
    return [...this.#memberships.get(session) ?? []];
  }

  /** The sessions of `userId` on this node. */
  sessionsOfUser(userId: string): Iterable<Session> {
    return this.#users.get(userId) ?? [];
  }

  /** The members of `group` on this node. */
  membersOf(group: string): Iterable<Session> {
    return this.#groups.get(group) ?? [];
  }

  /** Members of `group` on this node. */
  groupSize(group: string): number {
    return this.#groups.get(group)?.size ?? 0;
  }

  /** Groups with at least one member on this node. */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** Users with at least one session on this node. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Writes `push` to the session with `sessionId`; returns deliveries (0 or 1). */
  deliverToSession(sessionId: string, push: EncodedPush): number {
    const session = this.#sessions.get(sessionId);
    return session && this.#writer.sendPush(session, push) ? 1 : 0;
  }

  /** Writes `push` to every session of `userId`; returns deliveries. */
  deliverToUser(userId: string, push: EncodedPush): number {
    return this.#deliver(this.#users.get(userId), push, undefined);
  }

  /** Writes `push` to every member of `group` but `exceptSessionId`; returns deliveries. */
  deliverToGroup(group: string, push: EncodedPush, exceptSessionId?: string): number {
    return this.#deliver(this.#groups.get(group), push, exceptSessionId);
  }

  /** Writes `push` to every session on this node; returns deliveries. */
  deliverToAll(push: EncodedPush): number {
    return this.#deliver(this.#sessions.values(), push, undefined);
  }

  #deliver(targets: Iterable<Session> | undefined, push: EncodedPush, except: string | undefined) {
    if (!targets) return 0;
    let delivered = 0;
    for (const session of targets) {
      if (session.id !== except && this.#writer.sendPush(session, push)) delivered++;
    }
    return delivered;
  }

  /** Forgets a closed session: its user binding and every group membership. */
  onSessionClosed = (session: Session, _disconnect: Disconnect): void => {
    this.#unbindUser(session);
    const groups = this.#memberships.get(session);
    if (!groups) return;
    for (const group of groups) {
      const members = this.#groups.get(group);
      members?.delete(session);
      if (members?.size === 0) this.#groups.delete(group);
    }
    this.#memberships.delete(session);
  };

  #unbindUser(session: Session): void {
    if (session.userId === undefined) return;
    const set = this.#users.get(session.userId);
    set?.delete(session);
    if (set?.size === 0) this.#users.delete(session.userId);
  }
}
