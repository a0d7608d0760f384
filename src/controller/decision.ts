// What decide() reads (Observed) and returns (Decision), and the pure steps that build a Decision value:
// every phase function takes one and returns a new one, so what a phase adds is its return value.
import type { JobPhase, JobStatus, PerseusRank, PerseusTrainingJob, PodRole, ValidatedJobSpec } from '../api/index.ts';
import type { PipelineSpec, PlannerOptions, StageProfile } from '../api/planner-types.ts';
import type { KubeObject } from '../kube/client.ts';
import type { Frontier } from '../planner/index.ts';
import { setCondition } from '../api/conditions.ts';

/** What reconcile needs to know about a pod. */
export interface PodInfo {
  readonly name: string;
  readonly uid: string;
  readonly role: PodRole;
  readonly pipeline: number;
  readonly stage: number;
  readonly phase: string;
  readonly nodeName?: string;
  readonly token?: string;
  readonly deleting: boolean;
  readonly reason?: string;
  /** The gang restart attempt the pod was created for (label perseus.energy/restart-attempt; 0 when absent). */
  readonly attempt: number;
}

/** A node's readiness, for pods bound to it (Ready condition of the Node). */
export interface NodeInfo {
  readonly ready: boolean;
  /** When Ready last changed status (ms since the epoch); undefined when unknown. */
  readonly sinceMs: number | undefined;
}

export type FrontierState =
  | { readonly state: 'absent' }
  | { readonly state: 'solving' }
  | { readonly state: 'failed'; readonly message: string }
  | { readonly state: 'ready'; readonly frontier: Frontier; readonly baseline: { readonly timeSeconds: number; readonly energyJoules: number } };

export interface Observed {
  readonly job: PerseusTrainingJob;
  readonly ranks: ReadonlyMap<string, PerseusRank>;
  readonly pods: ReadonlyMap<string, PodInfo>;
  readonly serviceExists: boolean;
  /** Data of ConfigMap <job>-perseus, when it exists. */
  readonly configMap: Readonly<Record<string, string>> | undefined;
  /** spec.profiling.profileRef's ConfigMap data; undefined when not found (or not referenced). */
  readonly profileRefData: Readonly<Record<string, string>> | undefined;
  /** The planner's state for the inputs with this key (see SolveRequest.key). */
  readonly frontierOf: (key: string) => FrontierState;
  readonly nowMs: number;
  /** A fresh random token for a pod about to be created (injected for determinism). */
  readonly mintToken: (podName: string) => string;
  /** Nodes by name, when the controller watches them (absent: a node is never considered lost). */
  readonly nodes?: ReadonlyMap<string, NodeInfo>;
  /** A pod's node NotReady this long counts as lost (default 5 minutes; 0 disables). */
  readonly nodeLostGraceMs?: number;
  /**
   * Pods of the job, by name, that the controller saw scheduled and then deleted while the job was running
   * them, as they last were: a pod gone before its rank recorded its UID is still a lost member of the gang.
   */
  readonly vanishedPods?: ReadonlyMap<string, PodInfo>;
}

export interface SolveRequest {
  readonly profile: StageProfile;
  readonly pipeline: PipelineSpec;
  readonly options: PlannerOptions;
  /** The base plan's allowed slowdown over the all-max baseline (a worker-solved frontier fits that target). */
  readonly maxSlowdown: number;
  /** Identifies the inputs: equal keys give equal frontiers (the planner is deterministic). */
  readonly key: string;
}

export interface JobEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export type ChildCreate = { readonly kind: 'Pod' | 'Service' | 'PerseusRank' | 'ConfigMap'; readonly object: KubeObject };
export type RankPatch = { readonly name: string; readonly patch: Record<string, unknown> };
/** `force`: gracePeriodSeconds 0, for pods on a lost node whose kubelet can no longer confirm a graceful deletion. */
export type PodDelete = { readonly name: string; readonly reason: string; readonly force?: boolean };

export interface Decision {
  /** The complete desired status (written when it differs). */
  readonly status: JobStatus;
  /** Objects to create when absent (AlreadyExists is success), in order. */
  readonly creates: readonly ChildCreate[];
  /** Merge patches of existing ranks (spec fields and labels). */
  readonly rankPatches: readonly RankPatch[];
  /** Keys to merge into ConfigMap <job>-perseus (which `creates` makes when absent). */
  readonly configMapData: Readonly<Record<string, string>> | undefined;
  readonly podDeletes: readonly PodDelete[];
  readonly deleteJob: boolean;
  /** Ask the planner for this frontier (off the event loop); reconcile again when it is ready. */
  readonly solve: SolveRequest | undefined;
  readonly events: readonly JobEvent[];
  readonly requeueAfterMs: number | undefined;
  /** Set when the plan generation moved for stragglers (metrics). */
  readonly replanned: boolean;
}

/** What every step knows about the job being decided: the observation and this pass's time and generation. */
export interface DecideContext {
  readonly o: Observed;
  readonly name: string;
  readonly generation: number;
  /** Now as an RFC 3339 timestamp with seconds precision (what status times hold). */
  readonly now: string;
}

/** The context once the spec is valid: `spec` carries every schema default. */
export interface JobContext extends DecideContext {
  readonly spec: ValidatedJobSpec;
}

/** A gate either decides the pass (`done`) or hands its decision on to the next step. */
export interface Step {
  readonly done: boolean;
  readonly decision: Decision;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function fmtSeconds(s: number): string {
  return `${s.toFixed(3)} s`;
}

export function initialDecision(status: JobStatus): Decision {
  return {
    status,
    creates: [],
    rankPatches: [],
    configMapData: undefined,
    podDeletes: [],
    deleteJob: false,
    solve: undefined,
    events: [],
    requeueAfterMs: undefined,
    replanned: false,
  };
}

/** `d` with `more` appended to its lists (in order). */
export function withActions(
  d: Decision,
  more: { readonly creates?: readonly ChildCreate[]; readonly rankPatches?: readonly RankPatch[]; readonly podDeletes?: readonly PodDelete[]; readonly events?: readonly JobEvent[] },
): Decision {
  return {
    ...d,
    creates: more.creates === undefined || more.creates.length === 0 ? d.creates : [...d.creates, ...more.creates],
    rankPatches: more.rankPatches === undefined || more.rankPatches.length === 0 ? d.rankPatches : [...d.rankPatches, ...more.rankPatches],
    podDeletes: more.podDeletes === undefined || more.podDeletes.length === 0 ? d.podDeletes : [...d.podDeletes, ...more.podDeletes],
    events: more.events === undefined || more.events.length === 0 ? d.events : [...d.events, ...more.events],
  };
}

export function withStatus(d: Decision, status: JobStatus): Decision {
  return { ...d, status };
}

/** `d` reconciled again within `ms` (the earliest of all requested requeues wins). */
export function withRequeue(d: Decision, ms: number): Decision {
  return { ...d, requeueAfterMs: d.requeueAfterMs === undefined ? ms : Math.min(d.requeueAfterMs, ms) };
}

/** `d` in `phase`; the event is recorded only when the phase changes. */
export function withPhase(d: Decision, phase: JobPhase, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): Decision {
  const events = d.status.phase === phase ? d.events : [...d.events, { type, reason, message }];
  return { ...d, events, status: { ...d.status, phase } };
}

export function withCondition(ctx: DecideContext, d: Decision, type: string, s: 'True' | 'False', reason: string, message: string): Decision {
  return { ...d, status: { ...d.status, conditions: setCondition(d.status.conditions, type, s, reason, message, ctx.now, ctx.generation) } };
}
