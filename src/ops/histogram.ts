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

  /**
   * Renders the `_bucket`, `_sum` and `_count` lines for metric `name`, with `labels` (e.g.
   * `transport="quic"`) on each.
   */
  render(name: string, labels = ""): string {
    const before = labels === "" ? "" : `${labels},`;
    const own = labels === "" ? "" : `{${labels}}`;
    let out = "";
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.#counts[i];
      out += `${name}_bucket{${before}le="${this.bounds[i]}"} ${cumulative}\n`;
    }
    cumulative += this.#counts[this.bounds.length];
    out += `${name}_bucket{${before}le="+Inf"} ${cumulative}\n`;
    out += `${name}_sum${own} ${this.#sum}\n${name}_count${own} ${this.#count}\n`;
    return out;
  }
}
