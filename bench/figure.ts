// One figure of the benchmark: what every bench file returns and run.ts prints beside its baseline.

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** Whether a larger value is better (throughput) or worse (duration). */
  isHigherBetter: boolean;
}
