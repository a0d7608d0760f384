// Worker-thread entry: solves one frontier off the controller's event loop and posts it back packed.
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import { solveCompact } from './planner-service.ts';

const input = workerData as { profile: StageProfile; pipeline: PipelineSpec; options: PlannerOptions; maxSlowdown: number };
try {
  const frontier = solveCompact(input.profile, input.pipeline, input.options, input.maxSlowdown);
  parentPort?.postMessage({ ok: true, frontier }, [frontier.clocks.buffer as ArrayBuffer]);
} catch (err) {
  parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
}
