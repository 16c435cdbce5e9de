/**
 * Round-trip latencies in an HDR histogram (3 significant digits, 1 µs to 60 s), which keeps
 * p99.9 and max exact enough at any count in a few kilobytes, and travels between the load
 * test's processes as compressed base64.
 *
 * @module
 */
import * as hdr from "hdr-histogram-js";

/** Latencies above this many microseconds are clamped to it (a minute). */
const HIGHEST_US = 60_000_000;

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  /** Samples recorded. */
  count: number;
  /** Median. */
  p50_ms: number;
  /** 90th percentile. */
  p90_ms: number;
  /** 99th percentile. */
  p99_ms: number;
  /** 99.9th percentile. */
  p999_ms: number;
  /** Largest sample. */
  max_ms: number;
  /** Arithmetic mean. */
  mean_ms: number;
}

/** Records round-trip times and summarizes them. */
export class LatencyHistogram {
  readonly #histogram: hdr.Histogram;

  /** Creates an empty histogram, or one decoded from {@linkcode LatencyHistogram.encode}. */
  constructor(encoded?: string) {
    this.#histogram = encoded === undefined
      ? hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: HIGHEST_US,
        numberOfSignificantValueDigits: 3,
      })
      : hdr.decodeFromCompressedBase64(encoded);
  }

  /** Records one round trip of `ms` milliseconds. */
  record(ms: number): void {
    this.#histogram.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
  }

  /** Adds every sample of `other`. */
  add(other: LatencyHistogram): void {
    this.#histogram.add(other.#histogram);
  }

  /** Samples recorded. */
  get count(): number {
    return this.#histogram.totalCount;
  }

  /** Serializes the samples for another process. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.#histogram);
  }

  /** Percentiles in milliseconds, rounded to the microsecond; zeros when empty. */
  summary(): LatencySummary {
    const h = this.#histogram;
    if (h.totalCount === 0) {
      return { count: 0, p50_ms: 0, p90_ms: 0, p99_ms: 0, p999_ms: 0, max_ms: 0, mean_ms: 0 };
    }
    const ms = (us: number) => Math.round(us) / 1000;
    // A percentile is its bucket's upper edge, which can sit a hair above the exact maximum.
    const at = (percentile: number) => ms(Math.min(h.getValueAtPercentile(percentile), h.maxValue));
    return {
      count: h.totalCount,
      p50_ms: at(50),
      p90_ms: at(90),
      p99_ms: at(99),
      p999_ms: at(99.9),
      max_ms: ms(h.maxValue),
      mean_ms: ms(h.mean),
    };
  }
}
