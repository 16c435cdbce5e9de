/**
 * How many file descriptors the process may still open before it keeps `reserve` for its own
 * use, counted cheaply: the descriptors open at the last count of `/proc/self/fd`, plus those
 * the caller opened since (it reports them), re-counted at most once per `recountMs`. The
 * limit is the soft `RLIMIT_NOFILE` from `/proc/self/limits`.
 *
 * Linux only; elsewhere, or without read access to `/proc`, the budget is unlimited.
 *
 * @module
 */

/** Options for {@linkcode DescriptorBudget}. */
export interface DescriptorBudgetOptions {
  /** Descriptors to keep free below the soft limit. */
  reserve: number;
  /** Shortest time between two counts of `/proc/self/fd`, in ms. Default 250. */
  recountMs?: number;
}

/** Reads the soft open-files limit; undefined when unknown or unlimited. */
function softNoFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (!match || match[1] === "unlimited") return undefined;
    return Number(match[1]);
  } catch {
    return undefined;
  }
}

function countOpenDescriptors(): number | undefined {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count;
  } catch {
    return undefined;
  }
}

/** The descriptor budget; see the module doc. */
export class DescriptorBudget {
  readonly #reserve: number;
  readonly #recountMs: number;
  readonly #limit: number | undefined;
  #counted = 0;
  #countedAt = -Infinity;
  /** Opened (+) and closed (-) by the caller since the last count. */
  #delta = 0;

  /** Reads the limit once; `reserve` 0 turns the budget off. */
  constructor(options: DescriptorBudgetOptions) {
    this.#reserve = options.reserve;
    this.#recountMs = options.recountMs ?? 250;
    this.#limit = options.reserve > 0 ? softNoFileLimit() : undefined;
    if (this.#limit !== undefined && countOpenDescriptors() === undefined) this.#limit = undefined;
  }

  /** Whether the budget is in force (Linux, a finite limit, a reserve above 0). */
  get enforced(): boolean {
    return this.#limit !== undefined;
  }

  /** The caller opened a descriptor. */
  opened(): void {
    this.#delta++;
  }

  /** The caller closed a descriptor. */
  closed = (): void => {
    this.#delta--;
  };

  /**
   * Whether one more descriptor may be opened and `reserve` still be left. Counts
   * `/proc/self/fd` again when the last count is older than `recountMs`, or when the estimate
   * says no (so freed descriptors are seen at once when the caller waits).
   */
  allows(now: number = performance.now()): boolean {
    if (this.#limit === undefined) return true;
    const fits = () => this.#counted + this.#delta + 1 + this.#reserve <= this.#limit!;
    if (now - this.#countedAt < this.#recountMs && fits()) return true;
    if (now - this.#countedAt >= Math.min(this.#recountMs, 50)) {
      this.#counted = countOpenDescriptors() ?? this.#counted;
      this.#countedAt = now;
      this.#delta = 0;
    }
    return fits();
  }
}
