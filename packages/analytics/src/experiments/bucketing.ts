/**
 * GrowthBook's deterministic bucketing, so a unit lands in the same variation
 * here as in GrowthBook's SDKs for the same key, seed, weights and coverage:
 * 32-bit FNV-1a over UTF-16 code units, hash versions 1 (biased, the SDKs'
 * default) and 2, and the same bucket ranges.
 */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h += (h << 1) + (h << 4) + (h << 7) + (h << 8) + (h << 24);
  }
  return h >>> 0;
}

export type HashVersion = 1 | 2;

/** The unit's position in [0, 1). */
export function bucketHash(seed: string, unit: string, version: HashVersion): number {
  return version === 2 ? (fnv1a32(fnv1a32(seed + unit) + '') % 10000) / 10000 : (fnv1a32(unit + seed) % 1000) / 1000;
}

/** Each variation's [start, end): its weight's stretch, of which the first `coverage` share is in the experiment. */
export function bucketRanges(weights: number[], coverage: number): [number, number][] {
  let cumulative = 0;
  return weights.map((weight) => {
    const start = cumulative;
    cumulative += weight;
    return [start, start + coverage * weight];
  });
}

/** The variation whose range holds `position`, or -1 (outside the coverage: not in the experiment). */
export function chooseVariation(position: number, ranges: [number, number][]): number {
  return ranges.findIndex(([start, end]) => position >= start && position < end);
}
