// Time sources for simulated GPUs: a manual clock for tests and a scaled wall clock so that the simulator
// runs hours of training in seconds.

/** Simulated time in seconds (monotonic). */
export interface SimTime {
  nowSeconds(): number;
}

/** A clock that moves only when told to (tests). */
export class ManualSimTime implements SimTime {
  constructor(private seconds = 0) {}
  nowSeconds(): number {
    return this.seconds;
  }
  /** Moves time forward by `seconds` (≥ 0). */
  advance(seconds: number): void {
    if (!(seconds >= 0)) throw new RangeError(`advance: expected seconds ≥ 0, got ${seconds}`);
    this.seconds += seconds;
  }
}

/** Wall time × `timeScale` (e.g. 100 → one real second is 100 simulated seconds), starting at 0. */
export class ScaledSimTime implements SimTime {
  private readonly startMs: number;
  constructor(
    readonly timeScale: number,
    private readonly realNowMs: () => number = () => performance.now(),
  ) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale: expected a number > 0, got ${timeScale}`);
    this.startMs = realNowMs();
  }
  nowSeconds(): number {
    return ((this.realNowMs() - this.startMs) / 1000) * this.timeScale;
  }
}
