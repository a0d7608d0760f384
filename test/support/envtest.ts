// A private Kubernetes control plane for the test run, in the manner of controller-runtime's envtest:
// etcd and kube-apiserver (plus kube-controller-manager and kube-scheduler when the assets folder has them)
// from $KUBEBUILDER_ASSETS, on loopback, free ports, a temporary directory, TLS and client certificates,
// Node,RBAC authorization and service-account tokens. One per mocha process, started on first use.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';

/** Why the real control plane cannot run here, or undefined when it can. */
export function envtestUnavailable(): string | undefined {
  const dir = process.env.KUBEBUILDER_ASSETS;
  if (!dir) return 'KUBEBUILDER_ASSETS is not set (see README: "Tests against a real kube-apiserver")';
  for (const bin of ['kube-apiserver', 'etcd']) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
    } catch {
      return `KUBEBUILDER_ASSETS=${dir} has no executable ${bin}`;
    }
  }
  if (!commandExists('openssl')) return 'openssl is not on PATH (it makes the control plane certificates)';
  return undefined;
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly dir: string;
  /** PEM of the cluster CA (serving and client certificates). */
  readonly caPem: string;
  /** An administrator (group system:masters) kubeconfig. */
  readonly adminKubeconfigYaml: string;
  /** Whether kube-controller-manager (garbage collector, namespace deletion, node lifecycle) runs. */
  readonly controllerManager: boolean;
  /** Whether kube-scheduler runs (binds pods to Ready nodes with room). */
  readonly scheduler: boolean;
  /** A kubeconfig for a bearer token. */
  kubeconfigForToken(token: string, user: string): string;
  /** Calls the API as the administrator; resolves with the status code and parsed body. */
  adminRequest(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }>;
  /** Stops exactly the processes it started and removes its directory. */
  stop(): Promise<void>;
  /** http://127.0.0.1:PORT of etcd (its v3 JSON gateway serves /v3/kv/range, /v3/kv/compaction). */
  readonly etcdUrl: string;
  /** Fault injection: SIGKILLs kube-apiserver and starts it again with the same flags and port; resolves once it is ready. */
  restartApiServer(): Promise<void>;
  /** Fault injection: SIGSTOP pauses etcd, SIGCONT resumes it. */
  signalEtcd(signal: 'SIGSTOP' | 'SIGCONT'): void;
}

interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  exited: boolean;
}

// Process-wide state: mocha loads --require files as CommonJS and the suites as ES modules, so this
// module can exist twice in one process; both instances must see the same control plane.
interface Registry {
  readonly children: Started[];
  /** Temporary directories of started control planes, removed with their processes. */
  readonly dirs: string[];
  shared: Promise<ControlPlane> | undefined;
  hooked: boolean;
}
const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for('perseus.envtest')] ??= { children: [], dirs: [], shared: undefined, hooked: false }) as Registry;
const children = registry.children;

/** The run's control plane, started on the first call. Throws when it cannot start (with the component's log tail). */
export function controlPlane(): Promise<ControlPlane> {
  registry.shared ??= startControlPlane();
  return registry.shared;
}

/** Stops the run's control plane if one was started (mocha's global teardown calls it). */
export async function stopControlPlane(): Promise<void> {
  const started = registry.shared;
  if (!started) return;
  registry.shared = undefined;
  try {
    await (await started).stop();
  } catch (err) {
    console.warn(`  (stopping the control plane: ${(err as Error).message}; killing its processes)`);
    killAllSync();
  }
}

function killAllSync(): void {
  for (const c of children) {
    if (!c.exited && c.child.pid) {
      try {
        process.kill(c.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const dir of registry.dirs.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
}

// An interrupted run still stops what it started: on exit synchronously, on signals before exiting. The
// children also get SIGKILL from the kernel if this process dies without running either (setpriv
// --pdeathsig), so a killed mocha leaves nothing behind.
if (!registry.hooked) {
  registry.hooked = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllSync();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${r.stderr}`);
}

function makePki(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=perseus-envtest-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  const sign = (name: string, subject: string, eku: string, san?: string): void => {
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${eku}`];
    if (san) ext.push(`subjectAltName=${san}`);
    writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
    openssl(['x509', '-req', '-sha256', '-days', '30', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
  };
  sign('apiserver', '/CN=kube-apiserver', 'serverAuth', 'IP:127.0.0.1,IP:127.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc');
  sign('admin', '/O=system:masters/CN=envtest-admin', 'clientAuth');
  sign('kcm', '/CN=system:kube-controller-manager', 'clientAuth');
  sign('scheduler', '/CN=system:kube-scheduler', 'clientAuth');
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function b64(path: string): string {
  return readFileSync(path).toString('base64');
}

function kubeconfig(url: string, caPem: string, user: string, credentials: Record<string, string>): string {
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: envtest',
    '  cluster:',
    `    server: ${url}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    ...Object.entries(credentials).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
    'contexts:',
    '- name: envtest',
    '  context:',
    '    cluster: envtest',
    `    user: ${JSON.stringify(user)}`,
    'current-context: envtest',
  ];
  return lines.join('\n') + '\n';
}

function launch(name: string, bin: string, args: string[], logFile: string): Started {
  const log = openSync(logFile, 'a');
  // setpriv --pdeathsig: the kernel kills the component when this process dies, however it dies.
  const [cmd, argv] = commandExists('setpriv') ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, args];
  const child = spawn(cmd, argv, { stdio: ['ignore', log, log] });
  const started: Started = { name, child, exited: false };
  child.once('exit', () => {
    started.exited = true;
  });
  children.push(started);
  return started;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitHealthy(started: Started, logFile: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (started.exited) throw new Error(`${started.name} exited during start-up; its log ends:\n${logTail(logFile)}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${started.name} not healthy after ${timeoutMs / 1000} s; its log ends:\n${logTail(logFile)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function httpsGet(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function startControlPlane(): Promise<ControlPlane> {
  const unavailable = envtestUnavailable();
  if (unavailable) throw new Error(`the real control plane cannot start: ${unavailable}`);
  const assets = process.env.KUBEBUILDER_ASSETS as string;
  const dir = mkdtempSync(join(tmpdir(), 'perseus-envtest-'));
  registry.dirs.push(dir);
  makePki(dir);
  const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const url = `https://127.0.0.1:${apiPort}`;
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const adminAgent = new Agent({ ca: caPem, cert: readFileSync(join(dir, 'admin.crt')), key: readFileSync(join(dir, 'admin.key')), keepAlive: true });
  const mine: Started[] = [];
  const stop = async (): Promise<void> => {
    for (const c of [...mine].reverse()) {
      if (c.exited) continue;
      c.child.kill('SIGCONT'); // a paused etcd (signalEtcd) must run to act on SIGTERM
      c.child.kill('SIGTERM');
      const exited = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 10_000);
        c.child.once('exit', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (!exited) c.child.kill('SIGKILL');
    }
    adminAgent.destroy();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    const etcdLog = join(dir, 'etcd.log');
    const etcd = launch('etcd', join(assets, 'etcd'), [
      '--name', 'envtest', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-cluster', `envtest=http://127.0.0.1:${etcdPeerPort}`, '--initial-cluster-state', 'new',
      '--unsafe-no-fsync',
    ], etcdLog);
    mine.push(etcd);
    await waitHealthy(etcd, etcdLog, async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, 60_000);

    const apiLog = join(dir, 'kube-apiserver.log');
    const apiArgs = [
      '--etcd-servers', `http://127.0.0.1:${etcdPort}`,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
      '--tls-cert-file', join(dir, 'apiserver.crt'), '--tls-private-key-file', join(dir, 'apiserver.key'),
      '--client-ca-file', join(dir, 'ca.crt'),
      '--authorization-mode', 'Node,RBAC',
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file', join(dir, 'sa.pub'), '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--service-cluster-ip-range', '127.96.0.0/16',
      '--endpoint-reconciler-type', 'none',
      '--allow-privileged=true',
      '--profiling=false',
      '--cert-dir', join(dir, 'generated'),
    ];
    const startApi = async (): Promise<Started> => {
      const api = launch('kube-apiserver', join(assets, 'kube-apiserver'), apiArgs, apiLog);
      mine.splice(1, 0, api);
      await waitHealthy(api, apiLog, async () => (await httpsGet(`${url}/readyz`, adminAgent)) === 200, 120_000);
      return api;
    };
    let api = await startApi();
    const restartApiServer = async (): Promise<void> => {
      const old = api;
      const exited = new Promise<void>((resolve) => (old.exited ? resolve() : old.child.once('exit', () => resolve())));
      old.child.kill('SIGKILL');
      await exited;
      mine.splice(mine.indexOf(old), 1);
      api = await startApi();
    };

    const componentConfig = (name: string, cert: string): string => {
      const file = join(dir, `${name}.kubeconfig`);
      writeFileSync(file, kubeconfig(url, caPem, name, { 'client-certificate-data': b64(join(dir, `${cert}.crt`)), 'client-key-data': b64(join(dir, `${cert}.key`)) }));
      return file;
    };
    // Optional components: started when the assets folder has them, healthy on their own /healthz.
    const insecure = new Agent({ rejectUnauthorized: false });
    const startOptional = async (name: string, cert: string, port: number, args: string[]): Promise<boolean> => {
      const bin = join(assets, name);
      if (!existsSync(bin)) return false;
      const cfg = componentConfig(name, cert);
      const log = join(dir, `${name}.log`);
      const started = launch(name, bin, ['--kubeconfig', cfg, '--authentication-kubeconfig', cfg, '--authorization-kubeconfig', cfg, '--bind-address', '127.0.0.1', '--secure-port', String(port), '--leader-elect=false', '--profiling=false', ...args], log);
      mine.push(started);
      await waitHealthy(started, log, async () => (await httpsGet(`https://127.0.0.1:${port}/healthz`, insecure)) === 200, 120_000);
      return true;
    };
    const controllerManager = await startOptional('kube-controller-manager', 'kcm', kcmPort, [
      '--controllers', '*', '--use-service-account-credentials=true',
      '--service-account-private-key-file', join(dir, 'sa.key'), '--root-ca-file', join(dir, 'ca.crt'),
      '--cluster-signing-cert-file', join(dir, 'ca.crt'), '--cluster-signing-key-file', join(dir, 'ca.key'),
      '--service-cluster-ip-range', '127.96.0.0/16', '--cluster-name', 'envtest',
      '--node-monitor-grace-period', '8760h', '--node-startup-grace-period', '8760h',
      // Namespaces are deleted in quick succession by the suites.
      '--concurrent-namespace-syncs', '10',
    ]);
    const scheduler = await startOptional('kube-scheduler', 'scheduler', schedPort, []);

    const adminKubeconfigYaml = kubeconfig(url, caPem, 'envtest-admin', {
      'client-certificate-data': b64(join(dir, 'admin.crt')),
      'client-key-data': b64(join(dir, 'admin.key')),
    });
    const adminRequest = (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: unknown }> =>
      new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
        // A length, not a chunked body: kube-apiserver answers a chunked DELETE body with 400 on a reused connection.
        const req = request(`${url}${path}`, { method, agent: adminAgent, headers: { accept: 'application/json', ...(data !== undefined ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(data)) } : {}) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        });
        req.on('error', reject);
        if (data !== undefined) req.write(data);
        req.end();
      });
    return {
      url,
      dir,
      caPem,
      adminKubeconfigYaml,
      controllerManager,
      scheduler,
      kubeconfigForToken: (token, user) => kubeconfig(url, caPem, user, { token }),
      adminRequest,
      stop,
      etcdUrl: `http://127.0.0.1:${etcdPort}`,
      restartApiServer,
      signalEtcd: (signal) => {
        if (!etcd.exited) etcd.child.kill(signal);
      },
    };
  } catch (err) {
    await stop().catch(() => killAllSync());
    throw err;
  }
}

/** A name unique within the run (real-server suites share one cluster). */
export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}
