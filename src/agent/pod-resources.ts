// Pod → GPU UUIDs through the kubelet pod-resources gRPC API v1 on its Unix socket. Uses Get (kubelet ≥
// 1.27, feature KubeletPodResourcesGet) and falls back to List where Get is unavailable.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { DEFAULT_GPU_RESOURCE } from '../api/names.ts';
import type { PodGpuResolver } from './types.ts';

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
export const PROTO_PATH = fileURLToPath(new URL('./podresources-v1.proto', import.meta.url));

/** Wire shapes (proto-loader with keepCase: false → camelCase). */
export interface ContainerDevices {
  resourceName?: string;
  deviceIds?: string[];
}
export interface PodResources {
  name?: string;
  namespace?: string;
  containers?: { name?: string; devices?: ContainerDevices[] }[];
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
interface ListerClient extends grpc.Client {
  List(req: object, options: grpc.CallOptions, cb: Callback<{ podResources?: PodResources[] }>): void;
  Get(req: { podName: string; podNamespace: string }, options: grpc.CallOptions, cb: Callback<{ podResources?: PodResources }>): void;
}

/** Loads the service definition (also used by tests to serve a fake kubelet). */
export function loadPodResourcesService(): grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } {
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { v1: { PodResourcesLister: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
  return pkg.v1.PodResourcesLister;
}

/** The device IDs of `resourceNames` over all containers of a pod. */
export function gpuDeviceIds(pod: PodResources | undefined, resourceNames: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of pod?.containers ?? []) {
    for (const d of c.devices ?? []) {
      if (d.resourceName !== undefined && resourceNames.includes(d.resourceName)) for (const id of d.deviceIds ?? []) if (!out.includes(id)) out.push(id);
    }
  }
  return out;
}

export interface KubeletPodResourcesOptions {
  /** Default /var/lib/kubelet/pod-resources/kubelet.sock. */
  readonly socketPath?: string;
  /** Extended resource names whose device IDs are GPU UUIDs (default nvidia.com/gpu). */
  readonly resourceNames?: readonly string[];
  /** Per-call deadline (default 5 s). */
  readonly timeoutMs?: number;
}

/** PodGpuResolver backed by the kubelet's pod-resources socket. */
export class KubeletPodResources implements PodGpuResolver {
  private readonly client: ListerClient;
  private readonly resourceNames: readonly string[];
  private readonly timeoutMs: number;
  private getUnsupported = false;

  constructor(options: KubeletPodResourcesOptions = {}) {
    const Lister = loadPodResourcesService();
    this.client = new Lister(`unix://${options.socketPath ?? DEFAULT_POD_RESOURCES_SOCKET}`, grpc.credentials.createInsecure()) as unknown as ListerClient;
    this.resourceNames = options.resourceNames ?? [DEFAULT_GPU_RESOURCE];
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async gpusForPod(namespace: string, podName: string): Promise<readonly string[]> {
    if (!this.getUnsupported) {
      try {
        const res = await new Promise<{ podResources?: PodResources }>((resolve, reject) =>
          this.client.Get({ podName, podNamespace: namespace }, { deadline: Date.now() + this.timeoutMs }, (err, v) => (err ? reject(err) : resolve(v ?? {}))),
        );
        return gpuDeviceIds(res.podResources, this.resourceNames);
      } catch (err) {
        if ((err as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw err;
        this.getUnsupported = true;
      }
    }
    const list = await new Promise<{ podResources?: PodResources[] }>((resolve, reject) =>
      this.client.List({}, { deadline: Date.now() + this.timeoutMs }, (err, v) => (err ? reject(err) : resolve(v ?? {}))),
    );
    return gpuDeviceIds(list.podResources?.find((p) => p.name === podName && p.namespace === namespace), this.resourceNames);
  }

  close(): void {
    this.client.close();
  }
}
