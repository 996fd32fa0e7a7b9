/** The part of jstat (no types of its own) the tests use as the reference. */
declare module 'jstat' {
  export const jStat: { chisquare: { cdf(x: number, degreesOfFreedom: number): number } };
}
