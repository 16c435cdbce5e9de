/**
 * Local ports for connections made from a chosen source address (`127.0.0.x`), picked by the
 * load test rather than by the kernel.
 *
 * Why: to connect from a source address, a client binds it before connecting, and Node's `net`
 * (which the `ws` client runs on) sets `SO_REUSEADDR` and binds port 0. Linux then searches for
 * a free port in the lower half of the ephemeral range, odd ports first, and only past those in
 * the rest: 7,058 ports of the default 32768–60999. Once a source address holds that many
 * connections, every further bind walks those thousands of taken ports in the kernel first:
 * 1.4–2 ms of system time per connection at 8,000–12,000 connections against 0.03–0.15 ms below
 * 7,000 (Linux 6.18, docs/load_test_100000.md). A process opening sessions then stalls in
 * `bind()` and stops reading its sockets. Binding a port picked here takes a few microseconds.
 *
 * @module
 */

/** An inclusive range of port numbers. */
export interface PortRange {
  /** Lowest port. */
  low: number;
  /** Highest port. */
  high: number;
}

/** Where Linux keeps the ephemeral port range. */
const RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range";

/** Linux's default ephemeral port range. */
export const DEFAULT_EPHEMERAL_PORTS: Readonly<PortRange> = { low: 32_768, high: 60_999 };

/**
 * The kernel's ephemeral port range (ports no server is meant to listen on, since the kernel
 * hands them out on its own), or Linux's default where it cannot be read: not Linux, or Deno
 * without `--allow-all`, which reading `/proc/sys` needs.
 */
export function ephemeralPortRange(file = RANGE_FILE): PortRange {
  let text;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return DEFAULT_EPHEMERAL_PORTS;
  }
  const [low, high] = text.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
    return DEFAULT_EPHEMERAL_PORTS;
  }
  return { low, high };
}

/**
 * Ports at the start of the ephemeral range that the load test leaves to the kernel. Linux gives
 * a `connect()` without `bind()` only ports that no socket has bound explicitly, on any address:
 * load processes binding every port of the range (each on its own `127.0.0.x`) left none, and
 * every other connection on the machine failed with "Cannot assign requested address" (the
 * gateway's own scrapes of its workers and a monitor's `curl` among them, at 100,000 sessions).
 */
export const KERNEL_PORTS = 4_096;

/**
 * The ports the load test binds on each source address: the ephemeral range but its first
 * {@linkcode KERNEL_PORTS} (or its first half, in a range smaller than twice that). Processes on
 * different addresses share them.
 */
export function loadTestPortRange(ephemeral: PortRange = ephemeralPortRange()): PortRange {
  const size = ephemeral.high - ephemeral.low + 1;
  const left = size >= 2 * KERNEL_PORTS ? KERNEL_PORTS : Math.floor(size / 2);
  return { low: ephemeral.low + left, high: ephemeral.high };
}

/**
 * Hands out the ports of a range round-robin, skipping ports still held, so a port is used
 * again only after every other one has been: by then its `TIME_WAIT` from the last use is
 * usually over (60 s) or reusable.
 */
export class SourcePorts {
  readonly #low: number;
  /** One byte per port of the range: 1 while held. */
  readonly #held: Uint8Array;
  #heldCount = 0;
  /** Index of the next port to try. */
  #cursor: number;

  /**
   * Covers `range`; the first port handed out is at `start` (0 to 1) of the way through it, so
   * that processes sharing a source address would start apart.
   *
   * @throws {RangeError} when the range is empty or outside 1–65535.
   */
  constructor(range: PortRange, start = Math.random()) {
    if (!(range.low >= 1 && range.high <= 65535 && range.low <= range.high)) {
      throw new RangeError(
        `Cannot use ports ${range.low}-${range.high}: a range must lie within 1-65535, low first`,
      );
    }
    this.#low = range.low;
    this.#held = new Uint8Array(range.high - range.low + 1);
    this.#cursor = Math.min(Math.floor(start * this.#held.length), this.#held.length - 1);
  }

  /** Ports held now. */
  get held(): number {
    return this.#heldCount;
  }

  /** Takes the next port not held, or `undefined` when every port of the range is held. */
  take(): number | undefined {
    const size = this.#held.length;
    if (this.#heldCount === size) return undefined;
    while (this.#held[this.#cursor] === 1) this.#cursor = (this.#cursor + 1) % size;
    const index = this.#cursor;
    this.#cursor = (index + 1) % size;
    this.#held[index] = 1;
    this.#heldCount++;
    return this.#low + index;
  }

  /** Gives `port` back; releasing a port that is not held does nothing. */
  release(port: number): void {
    const index = port - this.#low;
    if (index < 0 || index >= this.#held.length || this.#held[index] === 0) return;
    this.#held[index] = 0;
    this.#heldCount--;
  }
}
