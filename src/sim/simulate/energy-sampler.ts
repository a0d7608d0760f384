// Samples the energy and power of every simulated GPU together on simulated time, for the report's
// energy and power curves.
import type { SimulatedGpu } from '../../nvml/simulated-gpu.ts';
import type { VirtualTime } from './virtual-time.ts';

/** One sample: [simulated s, cumulative J, W]. */
export type EnergySample = [number, number, number];

export class EnergySampler {
  readonly samples: EnergySample[] = [];
  private timer: { cancel(): void } | undefined;

  constructor(
    private readonly gpus: readonly SimulatedGpu[],
    private readonly time: VirtualTime,
    /** Simulated seconds between samples. */
    private readonly everySeconds = 5,
  ) {}

  /** Samples now and then every `everySeconds`. */
  start(): void {
    this.sample();
    this.timer = this.time.at(this.time.nowSeconds() + this.everySeconds, () => this.start());
  }

  stop(): void {
    this.timer?.cancel();
  }

  sample(): void {
    let mj = 0;
    let mw = 0;
    for (const g of this.gpus) {
      mj += g.totalEnergyMillijoules();
      mw += g.powerMilliwatts();
    }
    this.samples.push([this.time.nowSeconds(), mj / 1000, mw / 1000]);
  }

  get last(): EnergySample | undefined {
    return this.samples[this.samples.length - 1];
  }
}
