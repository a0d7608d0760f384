// A KubeApi that reports every successful contact with the API server (a call that returned, a watch event
// other than ERROR, bookmarks included): what a lease on the API server renews itself with.
import type { KubeApi, WatchEvent } from './client.ts';
import { ForwardingApi, type KubeVerb } from './forwarding-api.ts';

/** Calls `onContact` after every successful API call and watch event (bookmarks included). */
export class ContactTrackingApi extends ForwardingApi {
  constructor(
    api: KubeApi,
    private readonly onContact: () => void,
  ) {
    super(api);
  }

  protected async around<T>(_verb: KubeVerb, call: Promise<T>): Promise<T> {
    const v = await call;
    this.onContact();
    return v;
  }

  override watch(...[kind, namespace, options, onEvent, done]: Parameters<KubeApi['watch']>): ReturnType<KubeApi['watch']> {
    const tracked = (event: WatchEvent): void => {
      if (event.type !== 'ERROR') this.onContact();
      onEvent(event);
    };
    return super.watch(kind, namespace, options, tracked, done);
  }
}
