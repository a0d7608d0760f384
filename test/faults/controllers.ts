// The controller as its own process (`perseus controller`, acting as the chart's ServiceAccount), so a
// fault can SIGKILL it; one replica, or two leader-elected replicas sharing a Lease.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ControllerOptions {
  readonly kubeconfigPath: string;
  readonly namespace: string;
  /** Leader election over this Lease (namespace/name); undefined: one replica without election. */
  readonly lease?: { readonly namespace: string; readonly name: string };
  /** More flags (for example a short --node-lost-grace). */
  readonly args?: readonly string[];
}

export class ControllerProcess {
  private child: ChildProcess | undefined;
  /** The tail of its output (stdout and stderr). */
  log = '';
  /** SIGKILLs delivered. */
  kills = 0;

  constructor(
    readonly identity: string,
    private readonly o: ControllerOptions,
  ) {}

  start(): void {
    const args = ['bin/perseus.js', 'controller', '--kubeconfig', this.o.kubeconfigPath, '--namespace', this.o.namespace, '--http-port', '0', '--metrics-port', '0', '--log-level', 'warn', '--identity', this.identity];
    args.push(...(this.o.args ?? []));
    if (this.o.lease !== undefined) args.push('--leader-elect', '--lease-namespace', this.o.lease.namespace, '--lease-name', this.o.lease.name);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no cleanup, no Lease release. Resolves once it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    this.kills++;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (an orderly stop), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
