/**
 * The chat example: rooms as groups. `chat.join {room, name}` (or just the room),
 * `chat.say {text}` (or just the text), `chat.leave`; everyone in the room gets
 * `chat.message` and `chat.presence` pushes.
 *
 * @module
 */
import { defineService, type ServiceContext } from "../core/service.ts";

const MAX_TEXT = 1_000;
const ROOM = /^[A-Za-z0-9_-]{1,64}$/;

function roomOf(context: ServiceContext): string | undefined {
  return context.session.get("chat.room") as string | undefined;
}

function group(room: string): string {
  return `chat:${room}`;
}

function leaveRoom(context: ServiceContext): string | undefined {
  const room = roomOf(context);
  if (room === undefined) return undefined;
  const name = context.session.get("chat.name");
  context.pushToGroup(group(room), "chat.presence", { room, name, event: "left" }, {
    exceptSelf: true,
  });
  context.leave(group(room));
  context.session.set("chat.room", undefined);
  return room;
}

/** Chat rooms over groups. */
export const chatService = defineService({
  name: "chat",
  routes: {
    /** Joins `room` as `name` (leaving the current room first). */
    join(data, context) {
      // A bare string is the room, so `ws_client -route chat.join -data lobby` works.
      const { room, name } = (typeof data === "string" ? { room: data } : data ?? {}) as {
        room?: unknown;
        name?: unknown;
      };
      if (typeof room !== "string" || !ROOM.test(room)) {
        return { ok: false, error: "room must be 1-64 letters, digits, _ or -" };
      }
      const display = typeof name === "string" && name.length > 0
        ? name.slice(0, 32)
        : `player-${context.sessionId.slice(0, 8)}`;
      leaveRoom(context);
      context.session.set("chat.room", room);
      context.session.set("chat.name", display);
      context.join(group(room));
      context.pushToGroup(group(room), "chat.presence", { room, name: display, event: "joined" }, {
        exceptSelf: true,
      });
      return { ok: true, room, name: display };
    },
    /** Says `text` to everyone in the room, the sender included. */
    say(data, context) {
      const room = roomOf(context);
      if (room === undefined) return { ok: false, error: "join a room first" };
      // A bare string is the text, so each line typed into `ws_client -i` can be said.
      const text = typeof data === "string" ? data : (data as { text?: unknown } | null)?.text;
      if (typeof text !== "string" || text.length === 0 || text.length > MAX_TEXT) {
        return { ok: false, error: `text must be a string of 1 to ${MAX_TEXT} characters` };
      }
      context.pushToGroup(group(room), "chat.message", {
        room,
        from: context.session.get("chat.name"),
        text,
        ts: Date.now(),
      });
      return { ok: true };
    },
    /** Leaves the current room. */
    leave(_data, context) {
      const room = leaveRoom(context);
      return room === undefined ? { ok: false, error: "not in a room" } : { ok: true, room };
    },
  },
});
