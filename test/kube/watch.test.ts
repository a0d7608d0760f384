// ClientKubeApi.watch on its own streaming GET, against a scripted HTTP server: the query it sends, events
// split across chunks, ERROR events passed on (410 Gone included), and `done` called exactly once, with
// null at a normal end or after abort, with a KubeError for a refusal, a malformed line or a broken stream.
// Watches do not hold up ordinary requests.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientKubeApi, CONFIGMAPS, connectionForUrl, type WatchEvent } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/errors.ts';

type Script = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const line = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`;
const cm = (name: string, rv: string): unknown => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'team', resourceVersion: rv } });

describe('ClientKubeApi.watch (streaming GET)', function () {
  let server: http.Server;
  let api: ClientKubeApi;
  let script: Script;
  let urls: string[];

  before(async () => {
    server = http.createServer((req, res) => {
      urls.push(req.url ?? '');
      script(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = new ClientKubeApi(connectionForUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
  beforeEach(() => {
    urls = [];
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Runs one watch; resolves with its events and every `done` call once the first has happened. */
  async function watch(options: { labelSelector?: string } = {}, abortAfterFirstEvent = false): Promise<{ events: WatchEvent[]; done: unknown[] }> {
    const events: WatchEvent[] = [];
    const done: unknown[] = [];
    let finished!: () => void;
    const ended = new Promise<void>((resolve) => (finished = resolve));
    // Set once watch() resolves; an event's abort runs later (setImmediate).
    const started: { handle?: { abort(): void } } = {};
    started.handle = await api.watch(
      CONFIGMAPS,
      'team',
      { resourceVersion: '41', timeoutSeconds: 290, ...options },
      (e) => {
        events.push(e);
        if (abortAfterFirstEvent) setImmediate(() => started.handle?.abort());
      },
      (err) => {
        done.push(err);
        finished();
      },
    );
    await ended;
    // A second `done` would come from the same stream's later events; give them a turn to arrive.
    await new Promise((r) => setTimeout(r, 50));
    return { events, done };
  }

  it('sends watch=true with the list query, delivers events split across chunks, and ends with done(null) once', async () => {
    script = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const text = line('ADDED', cm('a', '42')) + line('BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '43' } }) + line('DELETED', cm('a', '44'));
      res.write(text.slice(0, 17));
      setTimeout(() => res.end(text.slice(17)), 20);
    };
    const { events, done } = await watch({ labelSelector: 'app=x' });
    const query = new URL(urls[0] ?? '', 'http://x').searchParams;
    assert.equal(new URL(urls[0] ?? '', 'http://x').pathname, '/api/v1/namespaces/team/configmaps');
    assert.deepEqual(Object.fromEntries(query), { watch: 'true', resourceVersion: '41', allowWatchBookmarks: 'true', timeoutSeconds: '290', labelSelector: 'app=x' });
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata.resourceVersion]),
      [
        ['ADDED', '42'],
        ['BOOKMARK', '43'],
        ['DELETED', '44'],
      ],
    );
    assert.deepEqual(done, [null]);
  });

  it('passes an ERROR event with a 410 Status on to onEvent (the informer relists)', async () => {
    script = (_req, res) => {
      res.writeHead(200);
      res.end(line('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version: 41 (97)' }));
    };
    const { events, done } = await watch();
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'ERROR');
    assert.equal(events[0]?.object.code, 410);
    assert.deepEqual(done, [null]);
  });

  it('a refused watch calls done once with a KubeError carrying the status code and reason', async () => {
    script = (_req, res) => {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'configmaps is forbidden: User "x" cannot watch resource "configmaps"' }));
    };
    const { events, done } = await watch();
    assert.equal(events.length, 0);
    assert.equal(done.length, 1);
    const err = done[0] as KubeError;
    assert.ok(err instanceof KubeError);
    assert.equal(err.code, 403);
    assert.equal(err.reason, 'Forbidden');
    assert.match(err.message, /^watch configmaps: configmaps is forbidden/);
  });

  it('a malformed line ends the watch with done(err) once, after the events before it', async () => {
    script = (_req, res) => {
      res.writeHead(200);
      res.end(line('ADDED', cm('a', '42')) + '{not json\n' + line('ADDED', cm('b', '43')));
    };
    const { events, done } = await watch();
    assert.deepEqual(
      events.map((e) => e.object.metadata.name),
      ['a'],
    );
    assert.equal(done.length, 1);
    assert.ok(done[0] instanceof KubeError);
    assert.match((done[0] as Error).message, /a watch event is not JSON: \{not json/);
  });

  it('a stream that breaks off calls done(err) once', async () => {
    script = (_req, res) => {
      res.writeHead(200);
      res.write(line('ADDED', cm('a', '42')));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const { events, done } = await watch();
    assert.equal(events.length, 1);
    assert.equal(done.length, 1);
    assert.ok(done[0] instanceof KubeError, String(done[0]));
    assert.equal((done[0] as KubeError).code, 0);
  });

  it('a refused connection calls done(err) once and still resolves with a handle', async () => {
    const closed = new ClientKubeApi(connectionForUrl('http://127.0.0.1:1'));
    const done: unknown[] = [];
    const handle = await closed.watch(CONFIGMAPS, 'team', { resourceVersion: '1', timeoutSeconds: 5 }, () => undefined, (err) => done.push(err));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done.length, 1);
    assert.equal((done[0] as KubeError).reason, 'ConnectionFailed');
    handle.abort();
    assert.equal(done.length, 1);
  });

  it('abort() closes the connection and calls done(null), not an error; a list goes through while ten watches are open', async () => {
    let closedByClient!: () => void;
    const serverSawClose = new Promise<void>((resolve) => (closedByClient = resolve));
    script = (req, res) => {
      if (new URL(req.url ?? '', 'http://x').searchParams.get('watch') !== 'true') {
        res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '9' } }));
        return;
      }
      res.writeHead(200);
      res.write(line('ADDED', cm('a', '42')));
      req.on('close', closedByClient);
    };
    // Ten open watches, then a list: it must not wait for a watch's socket.
    const handles = await Promise.all(Array.from({ length: 10 }, () => api.watch(CONFIGMAPS, 'team', { resourceVersion: '1', timeoutSeconds: 60 }, () => undefined, () => undefined)));
    assert.equal((await api.list(CONFIGMAPS, 'team')).resourceVersion, '9');
    for (const h of handles) h.abort();
    const { events, done } = await watch({}, true);
    assert.equal(events.length, 1);
    assert.deepEqual(done, [null]);
    await serverSawClose;
  });
});
