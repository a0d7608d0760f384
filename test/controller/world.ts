// An in-memory world for decide(): each step applies the decision the way the controller would (creates,
// rank merge patches, pod deletes, the planner inline), so tests assert on the resulting objects and status.
import assert from 'node:assert/strict';
import type { JobStatus, PerseusRank, PerseusTrainingJob, RankStatus } from '../../src/api/index.ts';
import { TOKEN_ANNOTATION } from '../../src/api/names.ts';
import { decide } from '../../src/controller/decide.ts';
import type { Decision, FrontierState, NodeInfo, PodDelete, PodInfo } from '../../src/controller/decision.ts';
import { solveInline } from '../../src/controller/planner-service.ts';
import type { KubeObject } from '../../src/kube/client.ts';
import { syntheticProfile } from './fixtures.ts';

export class World {
  job: PerseusTrainingJob;
  ranks = new Map<string, PerseusRank>();
  pods = new Map<string, PodInfo & { object: KubeObject }>();
  service = false;
  configMap: Record<string, string> | undefined;
  profileRef: Record<string, string> | undefined;
  frontiers = new Map<string, FrontierState>();
  nowMs = Date.parse('2025-03-01T00:00:00Z');
  tokens = 0;
  events: { reason: string; message: string }[] = [];
  deleted = false;
  last: Decision | undefined;
  /** Nodes the controller sees (readiness); pods are bound to `node-<pipeline>` by `schedule()`. */
  nodes = new Map<string, NodeInfo>();
  nodeLostGraceMs: number | undefined;
  /** Every pod delete of every step, in order. */
  deletes: PodDelete[] = [];
  /** Pods the controller saw deleted after they were scheduled (Observed.vanishedPods). */
  vanished = new Map<string, PodInfo>();
  private uids = 0;

  constructor(job: PerseusTrainingJob) {
    this.job = job;
  }

  step(): Decision {
    const d = decide({
      job: this.job,
      ranks: this.ranks,
      pods: this.pods,
      serviceExists: this.service,
      configMap: this.configMap,
      profileRefData: this.profileRef,
      frontierOf: (key) => this.frontiers.get(key) ?? { state: 'absent' },
      nowMs: this.nowMs,
      mintToken: () => `token-${++this.tokens}`,
      nodes: this.nodes,
      ...(this.nodeLostGraceMs === undefined ? {} : { nodeLostGraceMs: this.nodeLostGraceMs }),
      ...(this.vanished.size === 0 ? {} : { vanishedPods: this.vanished }),
    });
    for (const c of d.creates) {
      const name = c.object.metadata.name;
      if (c.kind === 'Service') this.service = true;
      if (c.kind === 'ConfigMap') this.configMap = { ...(c.object['data'] as Record<string, string>) };
      if (c.kind === 'PerseusRank') this.ranks.set(name, c.object as unknown as PerseusRank);
      if (c.kind === 'Pod') {
        const labels = c.object.metadata.labels ?? {};
        this.pods.set(name, {
          name,
          uid: `uid-${name}-${++this.uids}`,
          role: labels['perseus.energy/role'] as 'worker' | 'profiler',
          pipeline: Number(labels['perseus.energy/pipeline']),
          stage: Number(labels['perseus.energy/stage']),
          phase: 'Pending',
          token: c.object.metadata.annotations?.[TOKEN_ANNOTATION] ?? '',
          deleting: false,
          attempt: Number(labels['perseus.energy/restart-attempt']),
          object: c.object,
        });
      }
    }
    if (d.configMapData !== undefined) this.configMap = { ...(this.configMap ?? {}), ...d.configMapData };
    for (const { name, patch } of d.rankPatches) {
      const rank = this.ranks.get(name);
      assert.ok(rank, `patched rank ${name} exists`);
      const spec = { ...rank.spec, ...((patch['spec'] as object | undefined) ?? {}) } as Record<string, unknown>;
      for (const k of Object.keys(spec)) if (spec[k] === null) delete spec[k];
      this.ranks.set(name, { ...rank, spec: spec as PerseusRank['spec'] });
    }
    this.deletes.push(...d.podDeletes);
    // Deletion is graceful: the pod stays (deleting) until `finishDeletions()`, as the kubelet confirms it.
    for (const { name, force } of d.podDeletes) {
      const pod = this.pods.get(name);
      if (pod === undefined) continue;
      if (force === true || !this.graceful) this.pods.delete(name);
      else this.pods.set(name, { ...pod, deleting: true });
    }
    if (d.solve !== undefined) {
      const solved = solveInline(d.solve.profile, d.solve.pipeline, d.solve.options);
      this.frontiers.set(d.solve.key, { state: 'ready', frontier: solved.frontier, baseline: solved.baseline });
    }
    this.events.push(...d.events);
    this.deleted ||= d.deleteJob;
    this.job = { ...this.job, status: d.status };
    this.last = d;
    return d;
  }

  /** Whether pod deletes leave the pod terminating until finishDeletions() (false: gone at once). */
  graceful = false;

  /** The kubelets confirm every graceful deletion. */
  finishDeletions(): void {
    for (const pod of [...this.pods.values()]) if (pod.deleting) this.pods.delete(pod.name);
  }

  /** Binds every unbound pod to node-<pipeline> (Running), as the scheduler and kubelet would. */
  schedule(): void {
    for (const pod of [...this.pods.values()]) {
      if (pod.nodeName !== undefined || pod.deleting) continue;
      const nodeName = `node-${pod.pipeline}`;
      if (!this.nodes.has(nodeName)) this.nodes.set(nodeName, { ready: true, sinceMs: undefined });
      this.pods.set(pod.name, { ...pod, nodeName, phase: 'Running' });
    }
  }

  get status(): JobStatus {
    return this.job.status ?? {};
  }

  setRankStatus(name: string, status: RankStatus): void {
    const rank = this.ranks.get(name);
    assert.ok(rank);
    this.ranks.set(name, { ...rank, status });
  }

  reportProfiles(): void {
    const profile = syntheticProfile(3);
    for (let s = 0; s < 3; s++) {
      this.setRankStatus(`gpt-p0-s${s}`, {
        stageProfile: profile.measurements.filter((m) => m.stage === s),
        blockingPowerWatts: 70,
        conditions: [{ type: 'Profiled', status: 'True', reason: 'SweepComplete', message: 'done', lastTransitionTime: '2025-03-01T00:00:00Z' }],
      });
    }
  }

  untilPhase(phase: string, max = 10): void {
    for (let i = 0; i < max && this.status.phase !== phase; i++) this.step();
    assert.equal(this.status.phase, phase);
  }

  /** Reports a window of iteration times for every stage of a pipeline: one time, or one per iteration. */
  reportIterations(pipeline: number, seconds: number | readonly number[], attempt = this.status.restarts ?? 0): void {
    const generation = this.status.plan?.generation ?? 0;
    const window = typeof seconds === 'number' ? [seconds, seconds, seconds, seconds] : [...seconds];
    for (let s = 0; s < 3; s++) {
      const name = `gpt-p${pipeline}-s${s}`;
      this.setRankStatus(name, { ...(this.ranks.get(name)?.status ?? {}), appliedPlanGeneration: generation, recentIterationSeconds: window, attempt });
    }
  }
}

/** Profiles, plans and runs the job until its worker pods exist. */
export function runToRunning(world: World): void {
  world.untilPhase('Profiling');
  world.reportProfiles();
  world.untilPhase('Running');
  world.step();
}

