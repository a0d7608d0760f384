import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { KubeletPodResources, loadPodResourcesService, type PodResources } from '../../src/agent/pod-resources.ts';

const pods: PodResources[] = [
  {
    name: 'job-worker-1',
    namespace: 'team',
    containers: [
      { name: 'trainer', devices: [{ resourceName: 'nvidia.com/gpu', deviceIds: ['GPU-1', 'GPU-3'] }, { resourceName: 'example.com/nic', deviceIds: ['nic0'] }] },
      { name: 'sidecar', devices: [] },
    ],
  },
  { name: 'job-worker-2', namespace: 'team', containers: [{ name: 'trainer', devices: [{ resourceName: 'nvidia.com/gpu', deviceIds: ['GPU-2'] }] }] },
];

/** A fake kubelet serving pod-resources v1 on a Unix socket; `withGet: false` acts like an old kubelet. */
async function serveFakeKubelet(socketPath: string, withGet: boolean): Promise<grpc.Server> {
  const server = new grpc.Server();
  const Lister = loadPodResourcesService();
  server.addService(Lister.service, {
    List: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { podResources: pods }),
    Get: (call: grpc.ServerUnaryCall<{ podName: string; podNamespace: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (!withGet) return cb({ code: grpc.status.UNIMPLEMENTED, details: 'Get is not enabled' } as grpc.ServiceError, null);
      const pod = pods.find((p) => p.name === call.request.podName && p.namespace === call.request.podNamespace);
      if (pod === undefined) return cb({ code: grpc.status.NOT_FOUND, details: 'pod not found' } as grpc.ServiceError, null);
      return cb(null, { podResources: pod });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

describe('kubelet pod-resources lookup', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'podres-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const withGet of [true, false]) {
    it(`maps a pod to its GPU UUIDs (${withGet ? 'Get' : 'List fallback'})`, async () => {
      const socketPath = join(dir, 'kubelet.sock');
      const server = await serveFakeKubelet(socketPath, withGet);
      const resolver = new KubeletPodResources({ socketPath });
      try {
        assert.deepEqual(await resolver.gpusForPod('team', 'job-worker-1'), ['GPU-1', 'GPU-3']);
        assert.deepEqual(await resolver.gpusForPod('team', 'job-worker-2'), ['GPU-2']);
        if (withGet) await assert.rejects(resolver.gpusForPod('other', 'job-worker-2'), /pod not found/);
        else assert.deepEqual(await resolver.gpusForPod('other', 'job-worker-2'), []);
      } finally {
        resolver.close();
        server.forceShutdown();
      }
    });
  }
});
