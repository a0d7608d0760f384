// Every name and contract that more than one component relies on: API group and kinds, child object names,
// labels and annotations, condition types, and the paths and environment a worker pod receives. The
// controller writes these, the node agent and the simulated kubelet read them: one definition each.

export const GROUP = 'perseus.energy';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The `spec.managedBy` value this controller answers to (absent means this controller too). */
export const CONTROLLER_NAME = `${GROUP}/controller`;

export const JOB_NAMES = {
  kind: 'PerseusTrainingJob',
  listKind: 'PerseusTrainingJobList',
  plural: 'perseustrainingjobs',
  singular: 'perseustrainingjob',
  shortNames: ['ptj'],
  categories: ['perseus', 'all'],
} as const;

export const RANK_NAMES = {
  kind: 'PerseusRank',
  listKind: 'PerseusRankList',
  plural: 'perseusranks',
  singular: 'perseusrank',
  shortNames: ['prank'],
  categories: ['perseus'],
} as const;

/** Labels the controller puts on a job's children; the node agent selects its ranks by `node`. */
export const LABELS = {
  job: `${GROUP}/job`,
  role: `${GROUP}/role`,
  pipeline: `${GROUP}/pipeline`,
  stage: `${GROUP}/stage`,
  /** On a PerseusRank: the node whose agent serves it (`spec.nodeName`). */
  node: `${GROUP}/node`,
  /** On a pod: the gang restart attempt (job status.restarts) it was created for; older pods are torn down. */
  restartAttempt: `${GROUP}/restart-attempt`,
} as const;

/** Pod annotation holding the rank token; projected into the pod at TOKEN_FILE through the downward API. */
export const TOKEN_ANNOTATION = `${GROUP}/token`;

/** Host directory of the node agent's socket, mounted at the same path into every worker pod. */
export const AGENT_SOCKET_HOST_DIR = '/var/run/perseus';
export const AGENT_SOCKET_FILE = 'agent.sock';
/** The socket path a worker pod sees (PERSEUS_AGENT_SOCKET). */
export const AGENT_SOCKET = `${AGENT_SOCKET_HOST_DIR}/${AGENT_SOCKET_FILE}`;
/** Where `perseus agent` listens inside its own container (the chart mounts the host directory at /run/perseus). */
export const AGENT_DEFAULT_SOCKET = `/run/perseus/${AGENT_SOCKET_FILE}`;
/** Directory of the projected token volume in a worker pod; the token is the file `token` in it. */
export const TOKEN_DIR = '/etc/perseus/token';
export const TOKEN_FILE = `${TOKEN_DIR}/token`;

/** Environment the controller injects into worker pods (DESIGN §5); the training client reads it. */
export const WORKER_ENV = {
  agentSocket: 'PERSEUS_AGENT_SOCKET',
  tokenFile: 'PERSEUS_TOKEN_FILE',
  job: 'PERSEUS_JOB',
  rank: 'PERSEUS_RANK',
  pipeline: 'PERSEUS_PIPELINE',
  stage: 'PERSEUS_STAGE',
  role: 'PERSEUS_ROLE',
  tensorParallel: 'PERSEUS_TENSOR_PARALLEL',
} as const;

/** The extended resource of one GPU (NVIDIA device plugin): the default of spec.gpu.resourceName and of the agent. */
export const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';

/** A worker pod trains; a profiling pod trains while its node agent sweeps clocks. */
export type PodRole = 'worker' | 'profiler';

/** Deterministic rank name of (pipeline, stage): `<job>-p<pipeline>-s<stage>`. */
export function rankName(job: string, pipeline: number, stage: number): string {
  return `${job}-p${pipeline}-s${stage}`;
}

/** A worker pod has its rank's name; profiling pods (pipeline 0 only) are `<job>-profile-s<stage>`. */
export function podName(job: string, role: PodRole, pipeline: number, stage: number): string {
  return role === 'worker' ? rankName(job, pipeline, stage) : `${job}-profile-s${stage}`;
}

/** ConfigMap holding the job's profile, frontier and planner inputs (CONFIG_MAP_KEYS). */
export function configMapName(job: string): string {
  return `${job}-perseus`;
}

/** Keys of the `<job>-perseus` ConfigMap. */
export const CONFIG_MAP_KEYS = {
  profile: 'profile.csv',
  frontier: 'frontier.csv',
  planner: 'planner.json',
  /** Profiling rounds done so far (measured rows, costs); kept for a restarted controller. */
  profiling: 'profiling.json',
  /** The fitted model of the last round: every row with a source column (measured or fitted). */
  profileModel: 'profile-model.csv',
} as const;

/** The headless service of a job (pods' DNS subdomain for the torch rendezvous). */
export function serviceName(job: string): string {
  return job;
}

/** Condition types of a PerseusTrainingJob (written by the controller). */
export const JOB_CONDITIONS = {
  invalidSpec: 'InvalidSpec',
  profiled: 'Profiled',
  planned: 'Planned',
  stragglerDetected: 'StragglerDetected',
  suspended: 'Suspended',
  /** True while a gang restart tears down and recreates every pod of the job (reason: what triggered it). */
  restarting: 'Restarting',
  complete: 'Complete',
  failed: 'Failed',
} as const;

/** Condition types of a PerseusRank (written by the node agent, read by the controller). */
export const RANK_CONDITIONS = {
  /** True once status.stageProfile is complete; False with a reason when profiling failed. */
  profiled: 'Profiled',
  /** True while the clocks follow spec.plan (status.appliedPlanGeneration). */
  planApplied: 'PlanApplied',
} as const;
