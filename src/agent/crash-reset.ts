// The last line of defence for "never leave a GPU clock locked that nothing owns": an exception nothing
// caught, or a promise rejection nothing handled, would end the agent with its clocks still locked until
// the DaemonSet restarts it. These handlers reset every GPU the agent owns first, log why, and exit 1.
import type { AgentLogger } from './types.ts';

/** Installs the handlers; returns a function that removes them (for an orderly shutdown or a test). */
export function resetClocksOnCrash(agent: { shutdown(): void }, logger: AgentLogger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let handled = false;
  const fatal = (error: unknown, origin: string): void => {
    if (handled) return;
    handled = true;
    const message = error instanceof Error ? error.message : String(error);
    logger.error('Fatal error: resetting every GPU clock before exiting', { origin, error: message, ...(error instanceof Error && error.stack !== undefined ? { stack: error.stack } : {}) });
    try {
      agent.shutdown();
    } catch (err) {
      logger.error('Could not reset the GPU clocks while exiting', { error: (err as Error).message });
    }
    exit(1);
  };
  const onException = (error: Error, origin: string): void => fatal(error, origin);
  const onRejection = (reason: unknown): void => fatal(reason, 'unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
