// Stops the parts of a simulation in the reverse order of their start; a part that fails to stop is
// logged and the others still stop.
export class Teardown {
  private readonly stops: Array<() => Promise<void> | void> = [];

  constructor(private readonly log: (message: string, fields?: Record<string, unknown>) => void) {}

  /** Registers how to stop what was just started. */
  push(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }

  async run(): Promise<void> {
    for (const stop of this.stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        this.log('Failed to stop a simulation component', { error: (err as Error).message });
      }
    }
    this.stops.length = 0;
  }
}
