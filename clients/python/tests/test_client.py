"""Tests of perseus_client against a real agent process (test/agent/serve-fake-agent.ts) on the fake NVML."""

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

from perseus_client import PerseusClient  # noqa: E402

STATE = {}


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def setUpModule():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise unittest.SkipTest("no C compiler (cc) to build the fake NVML library")
    tmp = tempfile.mkdtemp(prefix="perseus-py-")
    lib = os.path.join(tmp, "libnvidia-ml.so.1")
    subprocess.check_call([cc, "-shared", "-fPIC", "-O2", "-o", lib, os.path.join(REPO, "test/fixtures/fake-nvml/fake_nvml.c")])
    log = os.path.join(tmp, "calls.log")
    conf = os.path.join(tmp, "fake.conf")
    with open(conf, "w") as f:
        f.write("gpu_count=4\nlog=%s\n" % log)
    plan = {
        "generation": 4,
        "granularity": "Instruction",
        "stagePlan": {
            "stage": 0,
            "computations": [
                {"instruction": "forward", "microbatch": 0, "chunk": 0, "frequencyMhz": 1410},
                {"instruction": "forward", "microbatch": 1, "chunk": 0, "frequencyMhz": 1290},
                {"instruction": "backward", "microbatch": 0, "chunk": 0, "frequencyMhz": 1350},
                {"instruction": "backward", "microbatch": 1, "chunk": 0, "frequencyMhz": 1320},
            ],
        },
    }
    base = {"namespace": "team", "job": "job", "pipeline": 0}
    ranks = [
        dict(base, name="job-p0-s0", stage=0, podName="worker-0", mode="Run", tokenSha256=sha("tok-0"), plan=plan, gpus=["GPU-fake-0001"]),
        dict(base, name="job-p0-s1", stage=1, podName="worker-1", mode="Profile", tokenSha256=sha("tok-1"),
             profiling={"warmupIterations": 0, "iterationsPerClock": 1, "clockStrideMhz": 0, "earlyStop": False}, gpus=["GPU-fake-0002"]),
    ]
    sock = os.path.join(tmp, "agent.sock")
    cfg = os.path.join(tmp, "agent.json")
    with open(cfg, "w") as f:
        json.dump({"socketPath": sock, "nvmlLibrary": lib, "ranks": ranks}, f)
    STATE.update(tmp=tmp, log=log, sock=sock, cfg=cfg, conf=conf)
    start_agent()


def start_agent():
    """Starts the agent process (again) on the same socket, library and call log."""
    env = dict(os.environ, FAKE_NVML_CONFIG=STATE["conf"])
    proc = subprocess.Popen([os.path.join(REPO, "node_modules/.bin/tsx"), "test/agent/serve-fake-agent.ts", STATE["cfg"]], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while True:
        line = proc.stdout.readline()
        if line.startswith("READY"):
            break
        if not line and proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("agent did not start")
    STATE["proc"] = proc


def stop_agent():
    proc = STATE.pop("proc", None)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def tearDownModule():
    stop_agent()
    if "tmp" in STATE:
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


def set_calls(gpu):
    with open(STATE["log"]) as f:
        return [l.strip() for l in f if l.startswith("nvmlDeviceSetGpuLockedClocks %d " % gpu)]


def wait_for(cond, what, timeout=5.0):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def token_file(content):
    fd, path = tempfile.mkstemp(dir=STATE["tmp"])
    with os.fdopen(fd, "w") as f:
        f.write(content + "\n")
    return path


@contextlib.contextmanager
def stand_in_agent(name, serve):
    """A Unix socket server at tmp/name whose thread runs serve(accept); yields the socket path.
    accept() returns the next connection and keeps it open until the end."""
    path = os.path.join(STATE["tmp"], name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    held = []

    def accept():
        conn, _ = server.accept()
        held.append(conn)
        return conn

    thread = threading.Thread(target=serve, args=(accept,), daemon=True)
    thread.start()
    try:
        yield path
    finally:
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


class ClientTest(unittest.TestCase):
    def env(self, rank, pod, token):
        return {"PERSEUS_AGENT_SOCKET": STATE["sock"], "PERSEUS_RANK": rank, "PERSEUS_NAMESPACE": "team", "PERSEUS_POD": pod,
                "PERSEUS_TOKEN_PATH": token_file(token)}

    def from_env(self, env, **kw):
        old = dict(os.environ)
        os.environ.update(env)
        try:
            return PerseusClient.from_env(**kw)
        finally:
            os.environ.clear()
            os.environ.update(old)

    def test_run_mode_sets_the_planned_clock_per_computation(self):
        client = self.from_env(self.env("job-p0-s0", "worker-0", "tok-0"))
        self.assertTrue(client.enabled)
        self.assertEqual(client.mode, "Run")
        self.assertEqual(client.gpus, ["GPU-fake-0001"])
        self.assertFalse(client.profiling)
        for mb in (0, 1):
            with client.instruction("forward", mb):
                pass
        for mb in (0, 1):
            with client.instruction("backward", mb):
                pass
        client.step_end()
        wait_for(lambda: len(set_calls(1)) >= 4, "4 clock sets on GPU 1")
        self.assertEqual(set_calls(1)[-4:], ["nvmlDeviceSetGpuLockedClocks 1 %d %d -> 0" % (f, f) for f in (1410, 1290, 1350, 1320)])
        client.close()

    def test_profile_mode_asks_for_synchronization(self):
        synced = []
        client = self.from_env(self.env("job-p0-s1", "worker-1", "tok-1"), synchronize=lambda: synced.append(1))
        self.assertEqual(client.mode, "Profile")
        self.assertTrue(client.profiling)
        with client.instruction("forward", 0):
            pass
        client.step_end()
        self.assertEqual(synced, [1])
        wait_for(lambda: len(set_calls(2)) >= 2, "sweep moved to the second clock")
        self.assertEqual(set_calls(2)[:2], ["nvmlDeviceSetGpuLockedClocks 2 1410 1410 -> 0", "nvmlDeviceSetGpuLockedClocks 2 1380 1380 -> 0"])
        client.close()

    def test_wrong_token_disables_the_client_with_one_warning(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = self.from_env(self.env("job-p0-s0", "worker-0", "not-the-token"))
            with client.instruction("forward", 0):
                pass
            client.step_end()
        self.assertFalse(client.enabled)
        self.assertEqual(len(caught), 1)
        self.assertIn("refused hello", str(caught[0].message))

    def test_absent_agent_never_raises(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = self.env("job-p0-s0", "worker-0", "tok-0")
            env["PERSEUS_AGENT_SOCKET"] = os.path.join(STATE["tmp"], "missing.sock")
            client = self.from_env(env)
            for i in range(100):
                with client.instruction("backward", i):
                    pass
                client.step_end()
        self.assertFalse(client.enabled)
        self.assertEqual(len(caught), 1)

    def test_unconfigured_environment_is_a_no_op(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = PerseusClient(None, None, None, None, None)
            client.begin("forward", 0)
            client.end()
            client.step_end(1.0)
        self.assertFalse(client.enabled)
        self.assertEqual(len(caught), 1)

    def test_reconnects_at_an_iteration_boundary_after_the_agent_restarts(self):
        client = self.from_env(self.env("job-p0-s0", "worker-0", "tok-0"), reconnect_interval_s=0.0)
        self.assertTrue(client.enabled)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stop_agent()
            # The loss shows on the next write; training goes on without clock control, no exception.
            wait_for(lambda: (client.begin("forward", 0), not client.enabled)[1], "connection loss noticed")
            self.assertEqual(client.mode, "Disabled")
            client.step_end(0.5)  # the agent is still down: the attempt fails quietly
            self.assertFalse(client.enabled)
            start_agent()
            client.step_end(0.5)
        self.assertTrue(client.enabled, "reconnected at the iteration boundary")
        self.assertEqual((client.mode, client.reconnects), ("Run", 1))
        self.assertEqual(len(caught), 1, [str(w.message) for w in caught])
        self.assertIn("connection lost", str(caught[0].message))
        before = len(set_calls(1))
        with client.instruction("forward", 1):
            pass
        wait_for(lambda: len(set_calls(1)) > before, "clock set after the reconnect")
        self.assertEqual(set_calls(1)[-1], "nvmlDeviceSetGpuLockedClocks 1 1290 1290 -> 0")
        client.close()
        client.step_end(0.5)
        self.assertFalse(client.enabled, "close() is final")

    def test_retries_a_refused_hello_between_iterations(self):
        # A stand-in agent that refuses the first hello (the rank has not reached it yet) and accepts the next.
        hellos = []

        def serve(accept):
            for reply in ({"type": "error", "code": "Unauthorized", "message": "no rank team/job-p0-s0 with this token"},
                          {"type": "hello", "ok": True, "v": 1, "mode": "Run", "gpus": ["GPU-x"], "synchronize": False}):
                conn = accept()
                hellos.append(json.loads(conn.makefile().readline()))
                conn.sendall((json.dumps(reply) + "\n").encode())

        with stand_in_agent("refusing.sock", serve) as path, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = self.env("job-p0-s0", "worker-0", "tok-0")
            env["PERSEUS_AGENT_SOCKET"] = path
            client = self.from_env(env, reconnect_interval_s=0.0)
            self.assertFalse(client.enabled)
            client.step_end(0.5)
            self.assertTrue(client.enabled)
            self.assertEqual((client.mode, client.gpus, client.reconnects), ("Run", ["GPU-x"], 1))
            client.close()
        self.assertEqual([h["rank"] for h in hellos], ["job-p0-s0", "job-p0-s0"])
        self.assertEqual(len(caught), 1)
        self.assertIn("refused hello", str(caught[0].message))

    def test_a_silent_agent_stalls_an_iteration_by_reconnect_timeout_s_at_most(self):
        def serve(accept):
            accept().close()  # the first connection is dropped at once; the next is accepted and never answered
            accept()

        with stand_in_agent("silent.sock", serve) as path, warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            env = self.env("job-p0-s0", "worker-0", "tok-0")
            env["PERSEUS_AGENT_SOCKET"] = path
            client = self.from_env(env, timeout_s=5.0, reconnect_interval_s=0.0, reconnect_timeout_s=0.3)
            self.assertFalse(client.enabled)
            start = time.monotonic()
            client.step_end(0.5)
            elapsed = time.monotonic() - start
            self.assertFalse(client.enabled)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 1.5, "bounded by reconnect_timeout_s, not the 5 s hello timeout")

    def test_rejected_message_is_reported_not_raised(self):
        client = self.from_env(self.env("job-p0-s0", "worker-0", "tok-0"))
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            client.begin("forward", 99)
            wait_for(lambda: (client.step_end(0.5), client.last_error)[1] is not None, "error reply")
        self.assertIn("no forward of microbatch 99", client.last_error)
        self.assertTrue(client.enabled)
        client.close()


if __name__ == "__main__":
    unittest.main()
