/**
 * A TCP load balancer for tests: each new connection goes to the port `choose` names at that
 * moment (a test routes by readiness, as a real balancer does with `/readyz`), bytes are
 * relayed both ways until either side ends.
 */

/** Relays connections on a loopback port to a backend chosen per connection. */
export class TcpBalancer implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #choose: () => number;
  readonly #conns = new Set<Deno.Conn>();
  readonly #relays = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  /** Starts balancing to whichever port `choose` returns for each connection. */
  constructor(choose: () => number) {
    this.#choose = choose;
    this.#accepting = this.#accept();
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const relay = this.#relay(conn);
        this.#relays.add(relay);
        relay.finally(() => this.#relays.delete(relay));
      }
    } catch {
      // closed
    }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#choose() });
      this.#conns.add(upstream);
      await Promise.all([
        client.readable.pipeTo(upstream.writable).catch(() => {}),
        upstream.readable.pipeTo(client.writable).catch(() => {}),
      ]);
    } catch {
      // refused or reset
    } finally {
      for (const conn of [client, upstream]) {
        if (conn === undefined) continue;
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch {
          // closed by its pipe already
        }
      }
    }
  }

  /** Stops accepting and cuts every relayed connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    await Promise.all([...this.#relays]);
  }
}
