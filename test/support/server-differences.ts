// The one place where tests are excluded on the real kube-apiserver, by name, each with its reason.
// docs/apiserver.md lists the same differences for readers. Keys: the suite title (without the server
// tag) and the test title, joined by " › ".

const FAULTS = "uses the embedded server's fault injection (the fault suite injects faults into the real one)";

export const REAL_SERVER_EXCLUSIONS: Readonly<Record<string, string>> = {
  'apiserver: CRUD and object semantics › status subresource: main writes ignore status, status writes ignore spec; generation counts spec changes':
    "the controller manager's deployment controller writes the Deployment's status concurrently, so the test's replace with a read resourceVersion conflicts",
  'apiserver: watch › sends BOOKMARK events when asked': 'kube-apiserver sends bookmarks about once a minute; the embedded server takes the interval as an option (50 ms here)',
  'apiserver: watch › marks the end of initial events for sendInitialEvents': 'sendInitialEvents (WatchList) arrived in Kubernetes 1.27; the test control plane is 1.26',
  'apiserver: watch › answers a compacted resourceVersion with an ERROR event carrying 410 Expired': "needs a watch history shorter than the test's writes (the embedded server's historySize: 50); etcd compacts every 5 minutes",
  'apiserver: watch › an informer relists after 410 and keeps a correct cache': FAULTS,
  'apiserver: watch › compaction through the fault hook forces 410 on an informer watch': FAULTS,
  'apiserver: watch › injects 429 and 500 on matching requests only, then recovers': FAULTS,
  'apiserver: watch › stalled watches deliver buffered events when resumed': FAULTS,
  'apiserver: watch › restart keeps state and the port; open watches end': FAULTS,
  'apiserver: protobuf over HTTP › answers 415 to a kind it does not decode':
    "kube-apiserver decodes protobuf bodies of every built-in kind; the embedded server decodes the kinds kubectl's generators send and answers 415, naming the kind, to the rest",
};

/** The reason a test (its title path, server tags removed) does not run on the real server, if any. */
export function realServerExclusion(titlePath: readonly string[]): string | undefined {
  for (let i = 0; i < titlePath.length - 1; i++) {
    const key = titlePath.slice(i).join(' › ');
    const reason = REAL_SERVER_EXCLUSIONS[key];
    if (reason) return reason;
  }
  return undefined;
}
