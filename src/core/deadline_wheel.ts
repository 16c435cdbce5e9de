/**
 * Deadlines for many items on one timer: each item has at most one deadline, rounded up to a
 * tick; items due in the same tick share a set, and a min-heap of ticks says when the one timer
 * fires next. Setting, moving and removing a deadline is O(1) (plus O(log ticks) for a new
 * tick); a firing tick costs only its own items. The authenticator uses it for every session's
 * auth timeout and token expiry, rather than a timer and a closure per session.
 *
 * @module
 */

/** One-shot timers; tests pass a manual source. */
export interface TimerSource {
  /** Calls `fn` once after `ms`; returns a function that cancels it. */
  after(fn: () => void, ms: number): () => void;
}

/** The real timers, on `setTimeout`. */
export const realTimers: TimerSource = {
  after: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Options for {@linkcode DeadlineWheel}. */
export interface DeadlineWheelOptions {
  /** Resolution in ms: an item fires at most this long after its deadline. */
  tickMs: number;
  /** Clock, ms since the epoch. */
  now?: () => number;
  /** Timer source. */
  timers?: TimerSource;
}

/** Calls `onDue(item, now)` for each item once its deadline has passed. */
export class DeadlineWheel<T> implements Disposable {
  readonly #onDue: (item: T, now: number) => void;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #timers: TimerSource;
  readonly #tickOf = new Map<T, number>();
  readonly #slots = new Map<number, Set<T>>();
  /** Ticks with a slot, as a binary min-heap; a tick whose slot emptied leaves it lazily. */
  readonly #heap: number[] = [];
  #armedTick = Infinity;
  #cancel: (() => void) | undefined;
  #firing = false;
  #stopped = false;

  /** Creates an empty wheel. */
  constructor(onDue: (item: T, now: number) => void, options: DeadlineWheelOptions) {
    this.#onDue = onDue;
    this.#tickMs = options.tickMs;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
  }

  /** Items with a deadline. */
  get size(): number {
    return this.#tickOf.size;
  }

  /** Sets (or moves) `item`'s deadline to `at`, ms since the epoch; Infinity removes it. */
  set(item: T, at: number): void {
    if (at === Infinity) {
      this.delete(item);
      return;
    }
    const tick = Math.ceil(at / this.#tickMs);
    const previous = this.#tickOf.get(item);
    if (previous === tick) return;
    if (previous !== undefined) this.#unslot(item, previous);
    this.#tickOf.set(item, tick);
    let slot = this.#slots.get(tick);
    if (!slot) {
      this.#slots.set(tick, slot = new Set());
      this.#push(tick);
    }
    slot.add(item);
    if (!this.#firing && tick < this.#armedTick) this.#arm();
  }

  /** Removes `item`'s deadline, if it has one. */
  delete(item: T): void {
    const tick = this.#tickOf.get(item);
    if (tick === undefined) return;
    this.#tickOf.delete(item);
    this.#unslot(item, tick);
  }

  /** Cancels the timer and forgets every deadline; safe to call twice. */
  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
    this.#tickOf.clear();
    this.#slots.clear();
    this.#heap.length = 0;
  }

  /** Stops the wheel. */
  [Symbol.dispose](): void {
    this.stop();
  }

  #unslot(item: T, tick: number): void {
    const slot = this.#slots.get(tick);
    slot?.delete(item);
    if (slot?.size === 0) this.#slots.delete(tick);
  }

  #arm(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#armedTick = Infinity;
    // Ticks whose items all moved or left need no timer.
    while (this.#heap.length > 0 && !this.#slots.has(this.#heap[0])) this.#pop();
    if (this.#stopped || this.#heap.length === 0) return;
    const tick = this.#heap[0];
    this.#armedTick = tick;
    this.#cancel = this.#timers.after(
      () => this.#fire(),
      Math.max(0, tick * this.#tickMs - this.#now()),
    );
  }

  #fire(): void {
    this.#cancel = undefined;
    this.#armedTick = Infinity;
    const now = this.#now();
    const dueTick = Math.floor(now / this.#tickMs);
    // Take every due slot first: an item given a new deadline by its handler waits for the
    // next firing, even when that deadline has passed already.
    const due: Set<T>[] = [];
    while (this.#heap.length > 0 && this.#heap[0] <= dueTick) {
      const tick = this.#pop();
      const slot = this.#slots.get(tick);
      if (!slot) continue;
      this.#slots.delete(tick);
      for (const item of slot) this.#tickOf.delete(item);
      due.push(slot);
    }
    this.#firing = true;
    try {
      for (const slot of due) for (const item of slot) this.#onDue(item, now);
    } finally {
      this.#firing = false;
      this.#arm();
    }
  }

  #push(tick: number): void {
    const heap = this.#heap;
    let i = heap.push(tick) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= tick) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = tick;
  }

  #pop(): number {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right] < heap[left] ? right : left;
        if (heap[child] >= last) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
