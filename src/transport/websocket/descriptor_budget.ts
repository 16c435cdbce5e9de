/**
 * How many file descriptors the process may still open before only `reserve` are left below
 * its open-files limit, counted cheaply: the count from the last call to `counter.open()`,
 * plus the descriptors the caller opened since (it reports them and their closes), asked again
 * at most once per `recountMs`, and at most every 50 ms while the answer is no.
 *
 * The counter is injected: reading `/proc/self` takes `--allow-all` in Deno, so the gateway
 * counts through libc (`src/ops/process_metrics.ts`). Without a counter, or where it cannot
 * tell, the budget is unlimited.
 *
 * @module
 */

/** Reads the process's descriptor figures; undefined where unknown. */
export interface DescriptorCounter {
  /** Descriptors open now. */
  open(): number | undefined;
  /** The soft open-files limit; undefined when unknown or unlimited. */
  limit(): number | undefined;
}

/** Options for {@linkcode DescriptorBudget}. */
export interface DescriptorBudgetOptions {
  /** Descriptors to keep free below the limit; 0 turns the budget off. */
  reserve: number;
  /** Where the figures come from; absent turns the budget off. */
  counter?: DescriptorCounter;
  /** Longest time an estimate is trusted, in ms. Default 250. */
  recountMs?: number;
}

/** How often the counter is asked while the budget says no, in ms. */
const RECOUNT_WHEN_FULL_MS = 50;

/** The descriptor budget; see the module doc. */
export class DescriptorBudget {
  readonly #reserve: number;
  readonly #recountMs: number;
  readonly #counter: DescriptorCounter | undefined;
  #limit: number | undefined;
  #counted = 0;
  #countedAt = -Infinity;
  /** Opened (+) and closed (-) by the caller since the last count. */
  #delta = 0;

  /** Reads the limit once; see {@linkcode DescriptorBudgetOptions}. */
  constructor(options: DescriptorBudgetOptions) {
    this.#reserve = options.reserve;
    this.#recountMs = options.recountMs ?? 250;
    this.#counter = options.reserve > 0 ? options.counter : undefined;
    this.#limit = this.#counter?.limit();
    if (this.#limit !== undefined && this.#counter?.open() === undefined) this.#limit = undefined;
  }

  /** The caller opened a descriptor. */
  opened(): void {
    this.#delta++;
  }

  /** The caller closed a descriptor. */
  closed = (): void => {
    this.#delta--;
  };

  /** Whether one more descriptor may be opened with `reserve` still left after it. */
  allows(now: number = performance.now()): boolean {
    if (this.#limit === undefined) return true;
    const age = now - this.#countedAt;
    if (age < this.#recountMs && this.#fits()) return true;
    if (age >= Math.min(this.#recountMs, RECOUNT_WHEN_FULL_MS)) {
      this.#counted = this.#counter!.open() ?? this.#counted;
      this.#countedAt = now;
      this.#delta = 0;
    }
    return this.#fits();
  }

  #fits(): boolean {
    return this.#counted + this.#delta + 1 + this.#reserve <= this.#limit!;
  }
}
