// The Kubernetes client library's KubeConfig for tests, which use the library's typed APIs next to the
// operator's own KubeConnection (src/kube/kubeconfig.ts); connectionOf turns one into the other.
import * as k8s from '@kubernetes/client-node';
import { connectionFromYaml, type KubeConnection } from '../../src/kube/kubeconfig.ts';

/** A library KubeConfig from kubeconfig YAML text (for example the embedded API server's). */
export function kubeConfigFromYaml(text: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/** A library KubeConfig from a kubeconfig file. */
export function kubeConfigFromFile(file: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new Error(`cannot load kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  return kc;
}

/** The same API server and credentials as a KubeConnection (through the library's own export). */
export function connectionOf(kc: k8s.KubeConfig): KubeConnection {
  return connectionFromYaml(kc.exportConfig());
}
