/**
 * The quantile sketch of the rollups, implemented once, in SQL (migration
 * 1796330100000): DDSketch's logarithmic buckets. A value x > 0 goes to bucket
 * j = ⌈log_γ x⌉ with γ = (1 + α) / (1 − α), which holds (γ^(j−1), γ^j]; the
 * bucket's estimate 2γ^j / (γ + 1) is within relative error α of every value in
 * it. Negative values mirror that, and 0 (or a value smaller in magnitude than
 * the smallest normal double) has a bucket of its own. Keys are offset so that
 * their order is the values' order: negative < 0 < positive.
 *
 * A sketch is two arrays, keys ascending and the count of values in each.
 * Merging two sketches adds counts key by key: exact, so a day merged from its
 * hours is the very sketch of the day's raw points.
 */

/** α: every quantile estimate is within this relative error of the exact value at that rank. */
export const SKETCH_RELATIVE_ERROR = 0.01;

/** γ = (1 + α) / (1 − α). */
export const SKETCH_GAMMA = (1 + SKETCH_RELATIVE_ERROR) / (1 - SKETCH_RELATIVE_ERROR);

/**
 * Added to ⌈log_γ |x|⌉ so that the smallest normal double (2.2250738585072014e-308)
 * gets key 1 (and the largest 70,907): keys fit an integer column.
 */
export const SKETCH_KEY_OFFSET = 1 - Math.ceil(Math.log(2.2250738585072014e-308) / Math.log(SKETCH_GAMMA));

export interface Sketch {
  /** Bucket keys, ascending. */
  keys: number[];
  /** Values in each bucket. */
  counts: number[];
}
