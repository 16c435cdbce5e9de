/**
 * A stand-in for `Deno.TcpConn` whose writes the test completes by hand, to observe how many
 * writes a connection makes and what it counts as buffered while they are in flight.
 */
export class FakeConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  /** A copy of the bytes of each write call, in order. */
  readonly writes: Uint8Array[] = [];
  #pendingWrites: PromiseWithResolvers<number>[] = [];
  #pendingRead: PromiseWithResolvers<number | null> | undefined;
  closed = false;

  /** Records the write; it completes when the test calls `completeWrite`. */
  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes.slice());
    const pending = Promise.withResolvers<number>();
    this.#pendingWrites.push(pending);
    return pending.promise;
  }

  /** Completes the oldest write with `bytes` written (all of it by default). */
  completeWrite(bytes?: number): void {
    const pending = this.#pendingWrites.shift();
    if (!pending) throw new Error("No write is in flight");
    pending.resolve(bytes ?? this.writes.at(-1 - this.#pendingWrites.length)!.length);
  }

  /** Writes started and not completed. */
  get writesInFlight(): number {
    return this.#pendingWrites.length;
  }

  /** Waits as a read from a silent peer does, until the socket is closed. */
  read(_buffer: Uint8Array): Promise<number | null> {
    this.#pendingRead = Promise.withResolvers();
    return this.#pendingRead.promise;
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  /** Fails pending operations as a closed socket does. */
  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("Bad resource ID");
    this.closed = true;
    this.#pendingRead?.reject(new Deno.errors.Interrupted("operation canceled"));
    for (const pending of this.#pendingWrites) {
      pending.reject(new Deno.errors.Interrupted("operation canceled"));
    }
    this.#pendingWrites = [];
  }
}
