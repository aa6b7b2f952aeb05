/** Quantiles of an unbounded stream in constant memory: a call can run for hours. */
export class Histogram {
  private readonly bins: Uint32Array;
  private total = 0;

  constructor(private readonly min: number, private readonly max: number, private readonly step: number) {
    this.bins = new Uint32Array(Math.ceil((max - min) / step) + 1);
  }

  get count(): number {
    return this.total;
  }

  add(value: number): void {
    const clamped = Math.min(this.max, Math.max(this.min, value));
    this.bins[Math.round((clamped - this.min) / this.step)]++;
    this.total++;
  }

  /** The value below which `share` of what was added lies (0.5: the median). */
  quantile(share: number): number {
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i];
      if (seen >= share * this.total) return this.min + i * this.step;
    }
    return this.max;
  }
}
