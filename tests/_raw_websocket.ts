/**
 * A bare-bones WebSocket client on a raw TCP socket, for what a browser-grade client will not
 * do: stay silent when pinged, read control frames, send frames of any size.
 */
import { within } from "./_helpers.ts";

/** One frame as read off the wire. */
export interface RawFrame {
  opcode: number;
  payload: Uint8Array;
}

/** A raw client connection that answers nothing on its own. */
export class RawWebSocket {
  readonly #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects and performs the opening handshake; returns the HTTP status line on failure. */
  static async connect(port: number, path: string): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const client = new RawWebSocket(conn);
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await client.#writeAll(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const head = await client.#readHead();
    if (!head.startsWith("HTTP/1.1 101")) {
      conn.close();
      throw new Error(`Handshake refused: ${head.split("\r\n")[0]}`);
    }
    return client;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    return true;
  }

  async #readHead(): Promise<string> {
    while (true) {
      const text = new TextDecoder().decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buffer = this.#buffer.subarray(
          new TextEncoder().encode(text.slice(0, end + 4)).length,
        );
        return text.slice(0, end);
      }
      if (!await this.#fill()) throw new Error("Connection closed during the handshake");
    }
  }

  /** Reads the next frame; null when the connection closed. */
  async readFrame(): Promise<RawFrame | null> {
    while (true) {
      const b = this.#buffer;
      if (b.length >= 2) {
        let length = b[1] & 0x7f;
        let offset = 2;
        if (length === 126 && b.length >= 4) {
          length = (b[2] << 8) | b[3];
          offset = 4;
        } else if (length === 127 && b.length >= 10) {
          length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
          offset = 10;
        }
        if (length < 126 || offset > 2) {
          if (b.length >= offset + length) {
            const frame = { opcode: b[0] & 0x0f, payload: b.slice(offset, offset + length) };
            this.#buffer = b.subarray(offset + length);
            return frame;
          }
        }
      }
      if (!await this.#fill()) return null;
    }
  }

  /** Reads frames until a close frame; returns its code and reason. */
  async readClose(timeoutMs: number): Promise<{ code: number; reason: string; pings: number }> {
    let pings = 0;
    const read = async () => {
      while (true) {
        const frame = await this.readFrame();
        if (frame === null) throw new Error("Connection ended without a close frame");
        if (frame.opcode === 0x9) pings++;
        if (frame.opcode === 0x8) {
          const code = (frame.payload[0] << 8) | frame.payload[1];
          return { code, reason: new TextDecoder().decode(frame.payload.subarray(2)), pings };
        }
      }
    };
    return await within(read(), timeoutMs, "a close frame");
  }

  /** Sends one masked frame. */
  async send(opcode: number, payload: Uint8Array): Promise<void> {
    await this.#writeAll(encodeFrame(opcode, payload));
  }

  /** Writes bytes as they are (a frame from {@linkcode encodeFrame}, or a part of one). */
  async write(bytes: Uint8Array): Promise<void> {
    await this.#writeAll(bytes);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** Closes the TCP connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** How {@linkcode encodeFrame} builds a frame. */
export interface FrameShape {
  /** The FIN bit: false for every fragment of a message but the last. Default true. */
  fin?: boolean;
  /** Mask the payload, as clients must. Default true. */
  masked?: boolean;
  /** The length the header announces, when it should differ from the payload sent. */
  announcedLength?: number;
}

/** Encodes one client frame; see {@linkcode FrameShape}. */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  shape: FrameShape = {},
): Uint8Array {
  const { fin = true, masked = true, announcedLength = payload.length } = shape;
  const maskBit = masked ? 0x80 : 0;
  const header: number[] = [(fin ? 0x80 : 0) | opcode];
  if (announcedLength < 126) header.push(maskBit | announcedLength);
  else if (announcedLength < 65536) {
    header.push(maskBit | 126, announcedLength >> 8, announcedLength & 0xff);
  } else {
    header.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) header.push(Math.floor(announcedLength / 2 ** (8 * i)) & 0xff);
  }
  const mask = masked ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const frame = new Uint8Array(header.length + mask.length + payload.length);
  frame.set(header);
  frame.set(mask, header.length);
  const start = header.length + mask.length;
  for (let i = 0; i < payload.length; i++) {
    frame[start + i] = masked ? payload[i] ^ mask[i & 3] : payload[i];
  }
  return frame;
}
