// Leader election over a real coordination.k8s.io Lease, on the embedded server and on kube-apiserver: one
// leader at a time, takeover once the holder stops renewing, a Lease other clients can read (holder,
// duration, MicroTime renewals, transitions), and, on the real server, the chart's controller
// ServiceAccount allowed to hold it in the release namespace.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { ClientKubeApi } from '../../src/kube/client.ts';
import { connectionOf, kubeConfigFromYaml } from '../support/library-kubeconfig.ts';
import { systemClock } from '../../src/kube/clock.ts';
import { LeaderElector } from '../../src/kube/leader.ts';
import { waitFor } from '../controller/harness.ts';
import { chartIdentities } from '../support/chart-identities.ts';
import { controlPlane, uniqueSuffix } from '../support/envtest.ts';
import { describeOnServers, kubeRequest, startTestServer, type TestServer } from '../support/servers.ts';

describeOnServers('leader election over a Lease', (kind) => {
  let server: TestServer;
  let admin: k8s.KubeConfig;
  /** The elector's credentials: the chart's controller ServiceAccount on the real server. */
  let electorKc: k8s.KubeConfig;
  let namespace: string;
  const electors: LeaderElector[] = [];

  before(async function () {
    this.timeout(300_000);
    const identities = kind === 'kube-apiserver' ? await chartIdentities(await controlPlane()) : undefined;
    server = await startTestServer(kind);
    admin = kubeConfigFromYaml(server.kubeconfigYaml());
    if (identities) {
      electorKc = kubeConfigFromYaml(identities.controllerKubeconfig);
      namespace = identities.namespace;
    } else {
      electorKc = admin;
      namespace = 'default';
    }
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });
  after(async () => {
    await server?.stop();
  });

  const make = (name: string, identity: string, leading: string[]): LeaderElector => {
    const e = new LeaderElector(new ClientKubeApi(connectionOf(electorKc)), systemClock, {
      namespace,
      name,
      identity,
      leaseDurationMs: 2000,
      renewDeadlineMs: 1500,
      retryPeriodMs: 200,
      onStartedLeading: () => leading.push(identity),
      onStoppedLeading: () => leading.push(`-${identity}`),
    });
    electors.push(e);
    return e;
  };

  it('elects one leader; the other takes over once the holder stops renewing', async function () {
    this.timeout(30_000);
    const name = `lease-${uniqueSuffix()}`;
    const leading: string[] = [];
    const a = make(name, 'a', leading);
    a.start();
    await waitFor('a leads', () => Promise.resolve(a.isLeader));
    const b = make(name, 'b', leading);
    b.start();
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(leading, ['a'], 'b waits while a renews');
    assert.equal(b.isLeader, false);
    await a.stop();
    await waitFor('b takes over', () => Promise.resolve(b.isLeader), 15_000);
    assert.deepEqual(leading, ['a', '-a', 'b']);
  });

  it('writes a Lease other clients read: holder, duration, MicroTime renewals and transitions', async function () {
    this.timeout(30_000);
    const name = `lease-${uniqueSuffix()}`;
    const leading: string[] = [];
    const a = make(name, 'first', leading);
    a.start();
    await waitFor('first leads', () => Promise.resolve(a.isLeader));
    interface Lease {
      spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
    }
    const read = async (): Promise<Lease> => (await kubeRequest(admin, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`)).body as unknown as Lease;
    const lease = await read();
    assert.equal(lease.spec.holderIdentity, 'first');
    assert.equal(lease.spec.leaseDurationSeconds, 2);
    // MicroTime: RFC 3339 with microseconds, as kube-apiserver stores and serves it.
    assert.match(lease.spec.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.match(lease.spec.acquireTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const renewed = await waitFor('a renewal', async () => {
      const l = await read();
      return Date.parse(l.spec.renewTime ?? '') > Date.parse(lease.spec.renewTime ?? '') ? l : undefined;
    });
    assert.equal(renewed.spec.holderIdentity, 'first');
    await a.stop();
    const b = make(name, 'second', leading);
    b.start();
    await waitFor('second leads', () => Promise.resolve(b.isLeader), 15_000);
    const taken = await read();
    assert.equal(taken.spec.holderIdentity, 'second');
    assert.equal(taken.spec.leaseTransitions, (lease.spec.leaseTransitions ?? 0) + 1);
  });
});
