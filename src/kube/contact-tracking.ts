// A KubeApi that reports every successful contact with the API server (a call that returned, a watch event
// other than ERROR, bookmarks included): what a lease on the API server renews itself with.
import type { KubeApi, WatchEvent } from './client.ts';

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

  list(...a: Parameters<KubeApi['list']>): ReturnType<KubeApi['list']> {
    return this.track(this.api.list(...a));
  }
  get(...a: Parameters<KubeApi['get']>): ReturnType<KubeApi['get']> {
    return this.track(this.api.get(...a));
  }
  create(...a: Parameters<KubeApi['create']>): ReturnType<KubeApi['create']> {
    return this.track(this.api.create(...a));
  }
  mergePatch(...a: Parameters<KubeApi['mergePatch']>): ReturnType<KubeApi['mergePatch']> {
    return this.track(this.api.mergePatch(...a));
  }
  apply(...a: Parameters<KubeApi['apply']>): ReturnType<KubeApi['apply']> {
    return this.track(this.api.apply(...a));
  }
  replace(...a: Parameters<KubeApi['replace']>): ReturnType<KubeApi['replace']> {
    return this.track(this.api.replace(...a));
  }
  delete(...a: Parameters<KubeApi['delete']>): ReturnType<KubeApi['delete']> {
    return this.track(this.api.delete(...a));
  }
  watch(...[kind, namespace, options, onEvent, done]: Parameters<KubeApi['watch']>): ReturnType<KubeApi['watch']> {
    const tracked = (event: WatchEvent): void => {
      if (event.type !== 'ERROR') this.onContact();
      onEvent(event);
    };
    return this.track(this.api.watch(kind, namespace, options, tracked, done));
  }
}
