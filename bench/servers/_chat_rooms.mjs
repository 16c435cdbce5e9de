// The chat workload for the bare servers: the wire format of the gateway's bundled `chat`
// service (src/services/chat.ts), `chat.join` and `chat.say` only, with no sessions,
// heartbeat or metrics. Each server adapts its own socket type; every socket has `send`.

/** Rooms of sockets; one per server process. */
export class ChatRooms {
  #rooms = new Map();
  #roomOf = new Map();
  #send;

  /**
   * `send(socket, push)` sends one fan-out push as a text frame; the default suits sockets
   * whose `send` takes a string. Node's `ws` re-encodes a string on every send, so its server
   * passes a function that sends one Buffer, encoded once, as text.
   */
  constructor(send = (socket, push) => socket.send(push)) {
    this.#send = send;
  }

  /** Handles one text frame from `socket`. */
  handle(socket, text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      socket.send('{"type":"error","code":"bad_json","message":"Frame is not valid JSON"}');
      return;
    }
    const { id, route, data } = message;
    if (route === "chat.join") {
      const room = typeof data === "string" ? data : data?.room;
      this.leave(socket);
      if (!this.#rooms.has(room)) this.#rooms.set(room, new Set());
      this.#rooms.get(room).add(socket);
      this.#roomOf.set(socket, room);
      socket.send(JSON.stringify({ type: "response", id, data: { ok: true, room } }));
    } else if (route === "chat.say") {
      const room = this.#roomOf.get(socket);
      const text = typeof data === "string" ? data : data?.text;
      const push = JSON.stringify({
        type: "push",
        route: "chat.message",
        data: { room, from: "player", text, ts: Date.now() },
      });
      for (const member of this.#rooms.get(room) ?? []) this.#send(member, push);
      socket.send(JSON.stringify({ type: "response", id, data: { ok: true } }));
    } else {
      socket.send(JSON.stringify({ type: "error", id, code: "unknown_route", message: route }));
    }
  }

  /** Removes `socket` from its room. */
  leave(socket) {
    const room = this.#roomOf.get(socket);
    if (room === undefined) return;
    this.#rooms.get(room).delete(socket);
    this.#roomOf.delete(socket);
  }
}
