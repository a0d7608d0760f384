// A KubeApi that reports every successful contact with the API server (a call that returned, a watch event
// other than ERROR, bookmarks included): what a lease on the API server renews itself with.
import type { KubeApi, KubeObject, ListResult, ResourceKind, WatchEvent } from './client.ts';

/** Calls `onContact` after every successful API call and watch event (bookmarks included). */
export class ContactTrackingApi implements KubeApi {
  constructor(
    private readonly api: KubeApi,
    private readonly onContact: () => void,
  ) {}

  private async track<T>(p: Promise<T>): Promise<T> {
    const v = await p;
    this.onContact();
    return v;
  }

  list(kind: ResourceKind, namespace: string | undefined, labelSelector?: string): Promise<ListResult> {
    return this.track(this.api.list(kind, namespace, labelSelector));
  }
  get(kind: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.track(this.api.get(kind, namespace, name));
  }
  create(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    return this.track(this.api.create(kind, namespace, object));
  }
  mergePatch(kind: ResourceKind, namespace: string, name: string, patch: unknown, options?: { status?: boolean }): Promise<KubeObject> {
    return this.track(this.api.mergePatch(kind, namespace, name, patch, options));
  }
  replace(kind: ResourceKind, namespace: string, object: KubeObject): Promise<KubeObject> {
    return this.track(this.api.replace(kind, namespace, object));
  }
  delete(kind: ResourceKind, namespace: string, name: string, options?: { propagation?: 'Background' | 'Foreground' | 'Orphan' }): Promise<boolean> {
    return this.track(this.api.delete(kind, namespace, name, options));
  }
  watch(
    kind: ResourceKind,
    namespace: string | undefined,
    options: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number },
    onEvent: (event: WatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }> {
    return this.track(
      this.api.watch(
        kind,
        namespace,
        options,
        (event) => {
          if (event.type !== 'ERROR') this.onContact();
          onEvent(event);
        },
        done,
      ),
    );
  }
}
