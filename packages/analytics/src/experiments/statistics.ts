/** ln Γ(x) (Lanczos, g = 7), for the incomplete gamma function. */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function (series below a + 1, continued fraction above). */
export function upperRegularizedGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) sum += term *= x / (a + n);
    return 1 - sum * front;
  }
  // Lentz's continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

export interface SampleRatioCheck {
  observed: number[];
  expected: number[];
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  /** p < 0.001: the split is not what the weights promise (broken assignment or logging). */
  mismatch: boolean;
}

/** The sample-ratio-mismatch test: Pearson's chi-squared of the observed counts against the weights. */
export function sampleRatioMismatch(observed: number[], weights: number[]): SampleRatioCheck {
  const total = observed.reduce((s, n) => s + n, 0);
  const weightSum = weights.reduce((s, w) => s + w, 0);
  const expected = weights.map((w) => (total * w) / weightSum);
  const chiSquare = observed.reduce((s, n, i) => (expected[i] > 0 ? s + (n - expected[i]) ** 2 / expected[i] : s), 0);
  const degreesOfFreedom = weights.filter((w) => w > 0).length - 1;
  const pValue = total === 0 || degreesOfFreedom < 1 ? 1 : upperRegularizedGamma(degreesOfFreedom / 2, chiSquare / 2);
  return { observed, expected, chiSquare, degreesOfFreedom, pValue, mismatch: pValue < 0.001 };
}
