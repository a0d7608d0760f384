// A node agent process's handle on a simulated GPU. A SIGKILLed agent makes no more NVML calls, while its
// locked clocks stay on the GPU; fencing the handle of a crashed agent's incarnation models exactly that
// (the in-process agent object may still run a timer, but it no longer reaches the hardware).
import type { ClockEventReason, Gpu } from '../../nvml/gpu.ts';
import type { SimulatedGpu } from '../../nvml/simulated-gpu.ts';

export class FencedGpu implements Gpu {
  private fenced = false;

  constructor(readonly gpu: SimulatedGpu) {}

  get index(): number {
    return this.gpu.index;
  }
  get uuid(): string {
    return this.gpu.uuid;
  }
  get name(): string {
    return this.gpu.name;
  }

  /** From now on every call that changes the GPU is dropped (its process is gone). */
  fence(): void {
    this.fenced = true;
  }

  supportedMemoryClocksMhz(): readonly number[] {
    return this.gpu.supportedMemoryClocksMhz();
  }
  supportedGraphicsClocksMhz(memoryClockMhz: number): readonly number[] {
    return this.gpu.supportedGraphicsClocksMhz(memoryClockMhz);
  }
  setLockedGpuClocksMhz(minMhz: number, maxMhz: number): void {
    if (!this.fenced) this.gpu.setLockedGpuClocksMhz(minMhz, maxMhz);
  }
  resetLockedGpuClocks(): void {
    if (!this.fenced) this.gpu.resetLockedGpuClocks();
  }
  setLockedMemoryClocksMhz(minMhz: number, maxMhz: number): void {
    if (!this.fenced) this.gpu.setLockedMemoryClocksMhz(minMhz, maxMhz);
  }
  resetLockedMemoryClocks(): void {
    if (!this.fenced) this.gpu.resetLockedMemoryClocks();
  }
  totalEnergyMillijoules(): number {
    return this.gpu.totalEnergyMillijoules();
  }
  powerMilliwatts(): number {
    return this.gpu.powerMilliwatts();
  }
  smClockMhz(): number {
    return this.gpu.smClockMhz();
  }
  clockEventReasons(): readonly ClockEventReason[] {
    return this.gpu.clockEventReasons();
  }
}
