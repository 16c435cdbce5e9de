/**
 * The kernel's UDP receive buffer, which a QUIC listener's socket gets: Deno's QUIC sets no
 * `SO_RCVBUF`, so every datagram for every connection queues in `net.core.rmem_default` bytes
 * (212,992 on a stock Linux). A listener busy with thousands of connections overflows that and
 * the kernel drops packets, which QUIC sees as loss: retransmits, handshakes that time out.
 *
 * The size is read on Linux only, through libc: a fresh UDP socket's `SO_RCVBUF`, which is what
 * the listener's socket got. Deno lets a program read `/proc/sys` only with `--allow-all`, but
 * the gateway's permission set has `ffi`, and `socket`/`getsockopt` need nothing else.
 *
 * @module
 */

/** The buffer the gateway advises for a public QUIC listener, bytes (8 MiB). */
export const ADVISED_UDP_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** Linux's constants (the same on x86_64 and aarch64). */
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

/**
 * The receive buffer a new UDP socket gets, in bytes, or undefined where it cannot be read
 * (not Linux, or no FFI permission).
 */
export function readUdpReceiveBufferBytes(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  let libc: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
  try {
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch {
    return undefined;
  }
  try {
    const fd = libc.symbols.socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return undefined;
    try {
      const value = new Int32Array(1);
      const length = new Uint32Array([value.byteLength]);
      if (libc.symbols.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, length) !== 0) {
        return undefined;
      }
      return value[0];
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
}

/** What to tell an operator whose UDP receive buffer is below the advised size. */
export interface UdpReceiveBufferAdvice {
  /** The receive buffer a new UDP socket gets now (`net.core.rmem_default`), bytes. */
  receive_buffer_bytes: number;
  /** The advised size, bytes. */
  advised_bytes: number;
  /** The commands that raise it (as root; persist them in /etc/sysctl.d). */
  fix: string;
}

/**
 * Advice when `bytes` (a UDP receive buffer, from {@linkcode readUdpReceiveBufferBytes}) is
 * below {@linkcode ADVISED_UDP_RECEIVE_BUFFER_BYTES}; undefined when it is enough or unknown.
 */
export function udpReceiveBufferAdvice(
  bytes: number | undefined,
): UdpReceiveBufferAdvice | undefined {
  if (bytes === undefined || bytes >= ADVISED_UDP_RECEIVE_BUFFER_BYTES) return undefined;
  const advised = ADVISED_UDP_RECEIVE_BUFFER_BYTES;
  return {
    receive_buffer_bytes: bytes,
    advised_bytes: advised,
    fix: `sysctl -w net.core.rmem_default=${advised} net.core.rmem_max=${advised}`,
  };
}
