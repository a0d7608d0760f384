// A KubeApi that forwards every call to another and passes each call's promise through one hook: the
// base of the wrappers that observe calls (contact tracking, write counting) without repeating the
// forwarding of every method.
import type { KubeApi } from './client.ts';

export type KubeVerb = 'list' | 'get' | 'create' | 'mergePatch' | 'apply' | 'replace' | 'delete' | 'watch';

export abstract class ForwardingApi implements KubeApi {
  constructor(protected readonly api: KubeApi) {}

  /** Sees every call (`verb`) and returns what the caller gets: `call` itself or a promise derived from it. */
  protected abstract around<T>(verb: KubeVerb, call: Promise<T>): Promise<T>;

  list(...a: Parameters<KubeApi['list']>): ReturnType<KubeApi['list']> {
    return this.around('list', this.api.list(...a));
  }
  get(...a: Parameters<KubeApi['get']>): ReturnType<KubeApi['get']> {
    return this.around('get', this.api.get(...a));
  }
  create(...a: Parameters<KubeApi['create']>): ReturnType<KubeApi['create']> {
    return this.around('create', this.api.create(...a));
  }
  mergePatch(...a: Parameters<KubeApi['mergePatch']>): ReturnType<KubeApi['mergePatch']> {
    return this.around('mergePatch', this.api.mergePatch(...a));
  }
  apply(...a: Parameters<KubeApi['apply']>): ReturnType<KubeApi['apply']> {
    return this.around('apply', this.api.apply(...a));
  }
  replace(...a: Parameters<KubeApi['replace']>): ReturnType<KubeApi['replace']> {
    return this.around('replace', this.api.replace(...a));
  }
  delete(...a: Parameters<KubeApi['delete']>): ReturnType<KubeApi['delete']> {
    return this.around('delete', this.api.delete(...a));
  }
  watch(...a: Parameters<KubeApi['watch']>): ReturnType<KubeApi['watch']> {
    return this.around('watch', this.api.watch(...a));
  }
}
