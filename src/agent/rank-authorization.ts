// Rank authorization: a training connection proves its rank with the per-rank token whose SHA-256 is in the
// rank spec, must come from the rank's pod, and may drive only GPUs the kubelet allocated to that pod.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ErrorCode, ErrorReply, HelloMessage } from './protocol.ts';
import type { RankState } from './rank-state.ts';

export type Denial = { readonly ok: false; readonly error: ErrorReply };

export function denied(code: ErrorCode, field: string, expected: string, message: string): Denial {
  return { ok: false, error: { type: 'error', code, field, expected, message } };
}

/** One answer for "no such rank" and "wrong token", so a client cannot probe which ranks exist. */
export function unauthorized(hello: HelloMessage, nodeName: string): Denial {
  return denied('Unauthorized', 'token', "the rank's token file contents", `no rank ${hello.namespace}/${hello.rank} with this token on node ${nodeName}`);
}

function sha256Hex(text: string): Buffer {
  return Buffer.from(createHash('sha256').update(text, 'utf8').digest('hex'), 'utf8');
}

/** Checks the token (in constant time) and the pod of a hello against the rank it names. */
export function checkIdentity(rank: RankState | undefined, hello: HelloMessage, nodeName: string): Denial | undefined {
  if (rank === undefined) return unauthorized(hello, nodeName);
  const presented = sha256Hex(hello.token);
  const expected = Buffer.from(rank.spec.tokenSha256.toLowerCase(), 'utf8');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return unauthorized(hello, nodeName);
  if (hello.pod !== rank.spec.podName) return denied('Forbidden', 'pod', `the rank's pod ${rank.spec.podName}`, `rank ${rank.key} belongs to pod ${rank.spec.podName}, not ${hello.pod}`);
  return undefined;
}

/** The GPUs the connection may drive: those it names, when all are the pod's; otherwise all of the pod's. */
export function allowedGpus(rank: RankState, hello: HelloMessage): { ok: true; gpus: readonly string[] } | Denial {
  const podGpus = rank.gpuUuids ?? [];
  if (hello.gpus === undefined) return { ok: true, gpus: podGpus };
  const foreign = hello.gpus.find((g) => !podGpus.includes(g));
  if (foreign !== undefined) return denied('Forbidden', 'gpus', `GPUs allocated to pod ${rank.spec.namespace}/${rank.spec.podName}: ${podGpus.join(', ') || '(none)'}`, `GPU ${foreign} is not allocated to pod ${rank.spec.namespace}/${rank.spec.podName}`);
  return { ok: true, gpus: hello.gpus };
}
