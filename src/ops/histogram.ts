/**
 * A fixed-bucket histogram in the Prometheus model: observing is a short bucket scan and two
 * additions, with no allocation.
 *
 * @module
 */

/** Cumulative-bucket histogram of values in seconds. */
export class Histogram {
  /** Upper bounds of the buckets, ascending; `+Inf` is implied. */
  readonly bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  /** Creates a histogram with the given ascending upper bounds. */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) {
        throw new RangeError(`Histogram bounds must ascend: ${bounds[i]} follows ${bounds[i - 1]}`);
      }
    }
    this.bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value. */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Sum of values recorded. */
  get sum(): number {
    return this.#sum;
  }

  /** Renders the `_bucket`, `_sum` and `_count` lines for metric `name`. */
  render(name: string): string {
    let out = "";
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.#counts[i];
      out += `${name}_bucket{le="${this.bounds[i]}"} ${cumulative}\n`;
    }
    cumulative += this.#counts[this.bounds.length];
    out += `${name}_bucket{le="+Inf"} ${cumulative}\n`;
    out += `${name}_sum ${this.#sum}\n${name}_count ${this.#count}\n`;
    return out;
  }
}
