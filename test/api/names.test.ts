// The shared names of src/api/names.ts, and the copies that cannot import them (the Python client, the
// Helm chart) checked against them, so a renamed path or variable fails here rather than in a cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../../src/agent/protocol.ts';
import { AGENT_DEFAULT_SOCKET, AGENT_SOCKET, AGENT_SOCKET_HOST_DIR, configMapName, podName, rankName, TOKEN_FILE, WORKER_ENV } from '../../src/api/names.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

describe('shared names', () => {
  it('formats rank, pod and ConfigMap names', () => {
    assert.equal(rankName('gpt', 1, 3), 'gpt-p1-s3');
    assert.equal(podName('gpt', 'worker', 1, 3), 'gpt-p1-s3');
    assert.equal(podName('gpt', 'profiler', 0, 3), 'gpt-profile-s3');
    assert.equal(configMapName('gpt'), 'gpt-perseus');
    assert.equal(AGENT_SOCKET, '/var/run/perseus/agent.sock');
  });

  it('match the Python client: token path, protocol version and the environment it reads', () => {
    const client = read('clients/python/perseus_client/client.py');
    assert.match(client, new RegExp(`^DEFAULT_TOKEN_PATH = "${TOKEN_FILE}"$`, 'm'));
    assert.match(client, new RegExp(`^PROTOCOL_VERSION = ${PROTOCOL_VERSION}$`, 'm'));
    for (const name of [WORKER_ENV.agentSocket, WORKER_ENV.rank, WORKER_ENV.tokenFile]) assert.ok(client.includes(`"${name}"`), `the client reads ${name}`);
  });

  it('match the Helm chart: the host socket directory and the agent socket inside its container', () => {
    assert.match(read('charts/perseus-operator/values.yaml'), new RegExp(`^  socketHostDir: ${AGENT_SOCKET_HOST_DIR}$`, 'm'));
    const daemonset = read('charts/perseus-operator/templates/agent-daemonset.yaml');
    assert.ok(daemonset.includes(`--socket=${AGENT_DEFAULT_SOCKET}`));
    assert.ok(daemonset.includes(`mountPath: ${path.posix.dirname(AGENT_DEFAULT_SOCKET)}`));
  });
});
