/**
 * A WebSocket client on a raw TCP socket for conformance tests: it sends any bytes, answers
 * nothing on its own, and reads server frames with a decoder of its own (not the engine's).
 */
import { type ClientFrame, clientFrame } from "./_frames.ts";
import { within } from "./_wait.ts";

/** One server frame. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** The request head of a valid upgrade, with `extra` header lines. */
export function upgradeRequest(port: number, path = "/", extra: string[] = []): string {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
    extra.map((line) => line + "\r\n").join("") + "\r\n";
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Reads until the peer ends the connection; returns everything read as latin1 text. */
export async function readToEnd(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const read = async () => {
    let text = "";
    const buffer = new Uint8Array(4096);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) return text;
        throw error;
      }
      if (n === null) return text;
      text += new TextDecoder("latin1").decode(buffer.subarray(0, n));
    }
  };
  return await within(read(), timeoutMs, "the server to end the connection");
}

/** A raw client connection. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  /** The response head of the handshake. */
  head = "";

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects and upgrades; throws with the status line when refused. */
  static async connect(
    port: number,
    options: { path?: string; extra?: string[]; firstBytes?: Uint8Array } = {},
  ): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const client = new RawClient(conn);
    try {
      const request = new TextEncoder().encode(upgradeRequest(port, options.path, options.extra));
      const first = options.firstBytes ?? new Uint8Array(0);
      const bytes = new Uint8Array(request.length + first.length);
      bytes.set(request);
      bytes.set(first, request.length);
      await writeAll(conn, bytes);
      client.head = await within(client.#readHead(), 5_000, "the handshake response");
      if (!client.head.startsWith("HTTP/1.1 101 ")) {
        throw new Error(`Handshake refused: ${client.head.split("\r\n")[0]}`);
      }
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) return false;
      throw error;
    }
    if (n === null) return false;
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    return true;
  }

  async #readHead(): Promise<string> {
    while (true) {
      const text = new TextDecoder("latin1").decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buffer = this.#buffer.subarray(end + 4);
        return text.slice(0, end);
      }
      if (!await this.#fill()) throw new Error("Connection ended during the handshake");
    }
  }

  #frame(): ServerFrame | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    let length = b[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = (b[2] << 8) | b[3];
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
      offset = 10;
    }
    if ((b[1] & 0x80) !== 0) throw new Error("Server sent a masked frame");
    if (b.length < offset + length) return undefined;
    const frame = {
      fin: (b[0] & 0x80) !== 0,
      opcode: b[0] & 0x0f,
      payload: b.slice(offset, offset + length),
    };
    this.#buffer = b.subarray(offset + length);
    return frame;
  }

  /** Reads the next frame; null when the connection ended first. */
  readFrame(timeoutMs = 5_000): Promise<ServerFrame | null> {
    const read = async () => {
      while (true) {
        const frame = this.#frame();
        if (frame) return frame;
        if (!await this.#fill()) return null;
      }
    };
    return within(read(), timeoutMs, "a frame from the server");
  }

  /** Reads frames until a close frame; returns its code and reason, and the frames before. */
  async readClose(
    timeoutMs = 5_000,
  ): Promise<{ code: number; reason: string; before: ServerFrame[] }> {
    const before: ServerFrame[] = [];
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const frame = await this.readFrame(Math.max(1, deadline - performance.now()));
      if (frame === null) throw new Error("Connection ended without a close frame");
      if (frame.opcode === 8) {
        const p = frame.payload;
        return {
          code: p.length >= 2 ? (p[0] << 8) | p[1] : 1005,
          reason: new TextDecoder().decode(p.subarray(2)),
          before,
        };
      }
      before.push(frame);
    }
  }

  /** Waits until the server ends the TCP connection (EOF or reset), discarding what arrives. */
  readEnd(timeoutMs = 5_000): Promise<void> {
    const read = async () => {
      while (await this.#fill()) this.#buffer = new Uint8Array(0);
    };
    return within(read(), timeoutMs, "the server to end the TCP connection");
  }

  /** Sends raw bytes. */
  send(bytes: Uint8Array): Promise<void> {
    return writeAll(this.conn, bytes);
  }

  /** Sends one client frame. */
  sendFrame(frame: ClientFrame): Promise<void> {
    return writeAll(this.conn, clientFrame(frame));
  }

  /** Closes the TCP connection; safe twice. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}
