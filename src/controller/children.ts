// The actions that bring a job's children (pods, ranks, the service) to what a phase wants: each function
// compares the observed child with the desired one and returns the creates, patches or deletes it needs.
import { LABELS, podName, rankName, type PodRole, type RankSpec } from '../api/index.ts';
import type { ChildCreate, DecideContext, JobContext, Observed, PodDelete, RankPatch } from './decision.ts';
import { jsonEqual } from './json-equal.ts';
import { buildPod, buildRank, buildService, sha256Hex } from './objects.ts';

function sameJson(a: unknown, b: unknown): boolean {
  return jsonEqual(a, b);
}

/** Patches that put every rank not yet Idle into Idle mode (the agents reset its clocks). */
export function idleRanks(o: Observed): RankPatch[] {
  const out: RankPatch[] = [];
  for (const [name, rank] of o.ranks) {
    if (rank.spec.mode !== 'Idle') out.push({ name, patch: { spec: { mode: 'Idle' } } });
  }
  return out;
}

/** Deletes of every pod not already going away; `onlyActive` spares pods that have finished. */
export function deletePods(o: Observed, reason: string, onlyActive: boolean): PodDelete[] {
  const out: PodDelete[] = [];
  for (const pod of o.pods.values()) {
    if (pod.deleting) continue;
    if (onlyActive && (pod.phase === 'Succeeded' || pod.phase === 'Failed')) continue;
    out.push({ name: pod.name, reason });
  }
  return out;
}

/** The headless service's create when it is absent. */
export function ensureService(ctx: DecideContext): ChildCreate[] {
  return ctx.o.serviceExists ? [] : [{ kind: 'Service', object: buildService(ctx.o.job) }];
}

/** A pod of (role, pipeline, stage): its create when absent, and the token its rank must carry (undefined while the pod is going away). */
export function ensurePod(
  ctx: JobContext,
  role: PodRole,
  pipeline: number,
  stage: number,
): { readonly token: string | undefined; readonly nodeName: string | undefined; readonly create: ChildCreate | undefined } {
  const name = podName(ctx.name, role, pipeline, stage);
  const pod = ctx.o.pods.get(name);
  if (pod !== undefined) return { token: pod.deleting || pod.phase === 'Failed' ? undefined : pod.token, nodeName: pod.nodeName, create: undefined };
  const token = ctx.o.mintToken(name);
  return { token, nodeName: undefined, create: { kind: 'Pod', object: buildPod(ctx.o.job, ctx.spec, role, pipeline, stage, token) } };
}

/** The identity fields of a rank's spec (what every mode shares), with the restart attempt and the UID of its scheduled pod. */
export function rankBase(ctx: JobContext, pipeline: number, stage: number, pod: string, token: string | undefined, nodeName: string | undefined) {
  const attempt = ctx.o.job.status?.restarts ?? 0;
  const observed = ctx.o.pods.get(pod);
  const podUid = observed !== undefined && !observed.deleting && observed.nodeName !== undefined && observed.attempt === attempt ? observed.uid : undefined;
  return {
    jobName: ctx.name,
    pipeline,
    stage,
    podName: pod,
    gpusPerRank: ctx.spec.topology.tensorParallel,
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(token === undefined ? {} : { tokenSha256: sha256Hex(token) }),
    attempt,
    ...(podUid === undefined ? {} : { podUid }),
  };
}

/** The create of a rank when absent, else the merge patch to `desired` (spec fields compared one by one; none when equal). */
export function ensureRank(
  ctx: DecideContext,
  pipeline: number,
  stage: number,
  desired: RankSpec,
  nodeName: string | undefined,
): { readonly create: ChildCreate | undefined; readonly patch: RankPatch | undefined } {
  const name = rankName(ctx.name, pipeline, stage);
  const rank = ctx.o.ranks.get(name);
  if (rank === undefined) return { create: { kind: 'PerseusRank', object: buildRank(ctx.o.job, name, desired, nodeName) }, patch: undefined };
  const specPatch: Record<string, unknown> = {};
  const current = rank.spec as unknown as Record<string, unknown>;
  const want = desired as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(current), ...Object.keys(want)])) {
    // Identity fields the controller does not know yet are left as the agent side last saw them.
    if (key === 'nodeName' && want[key] === undefined) continue;
    if (key === 'tokenSha256' && want[key] === undefined) continue;
    if (!sameJson(current[key], want[key])) specPatch[key] = want[key] ?? null;
  }
  const patch: Record<string, unknown> = {};
  if (Object.keys(specPatch).length > 0) patch['spec'] = specPatch;
  if (nodeName !== undefined && rank.metadata.labels?.[LABELS.node] !== nodeName) patch['metadata'] = { labels: { [LABELS.node]: nodeName } };
  return { create: undefined, patch: Object.keys(patch).length > 0 ? { name, patch } : undefined };
}

/** Collects the creates and patches of a run of ensurePod/ensureRank calls, in call order. */
export class ChildActions {
  readonly creates: ChildCreate[] = [];
  readonly rankPatches: RankPatch[] = [];

  add(r: { readonly create: ChildCreate | undefined; readonly patch?: RankPatch | undefined }): void {
    if (r.create !== undefined) this.creates.push(r.create);
    if (r.patch !== undefined) this.rankPatches.push(r.patch);
  }
}
