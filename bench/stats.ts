/** Figures every bench section reports; kept apart so a section can load them without loading the pipeline. */
export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};
export const r = (x: number, d = 4): number => Number(x.toFixed(d));
