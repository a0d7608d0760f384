"""The local training API client (newline-delimited JSON over the agent's Unix socket)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from typing import Callable, Dict, Iterator, List, Optional

PROTOCOL_VERSION = 1
DEFAULT_TOKEN_PATH = "/etc/perseus/token/token"
_INSTRUCTIONS = ("forward", "backward")


class PerseusClient:
    """Client of the Perseus node agent for one training process.

    Fire-and-forget: ``begin``/``end``/``step_end`` are single non-blocking writes; the agent never
    answers them unless they are malformed. The only blocking call is the hello in the constructor
    (bounded by ``timeout_s``).
    """

    def __init__(
        self,
        socket_path: Optional[str],
        rank: Optional[str],
        namespace: Optional[str],
        pod: Optional[str],
        token: Optional[str],
        gpus: Optional[List[str]] = None,
        timeout_s: float = 5.0,
        synchronize: Optional[Callable[[], None]] = None,
        reconnect_interval_s: float = 10.0,
        reconnect_timeout_s: float = 0.5,
    ) -> None:
        self.mode = "Disabled"
        self.gpus: List[str] = []
        self.synchronize_enabled = False
        self._sock: Optional[socket.socket] = None
        self._warned = False
        self._iteration_start = time.monotonic()
        self._synchronize = synchronize
        self.last_error: Optional[str] = None
        # Reconnection: after a lost, failed or refused connection, step_end() tries again at most every
        # reconnect_interval_s. The agent restarts (a DaemonSet update); and at pod start it may not know
        # the rank yet, or the rank may still name the previous (profiling) pod: a refusal can be transient.
        self.reconnect_interval_s = reconnect_interval_s
        # A reconnection happens inside the training loop: it may stall an iteration by this much at most.
        self.reconnect_timeout_s = reconnect_timeout_s
        self._params: Optional[Dict[str, object]] = None
        self._last_attempt = 0.0
        self.reconnects = 0
        missing = [n for n, v in (("PERSEUS_AGENT_SOCKET", socket_path), ("PERSEUS_RANK", rank), ("namespace", namespace), ("pod", pod), ("token", token)) if not v]
        if missing:
            self._warn("Perseus agent not configured (missing %s); running without clock control" % ", ".join(missing))
            return
        self._params = {"socket_path": socket_path, "rank": rank, "namespace": namespace, "pod": pod, "token": token, "gpus": gpus, "timeout_s": timeout_s}
        self._connect()

    def _connect(self, timeout_s: Optional[float] = None) -> bool:
        """Connects and says hello; True when bound. Warns (once) and stays disabled otherwise."""
        p = self._params
        if p is None:
            return False
        self._last_attempt = time.monotonic()
        if timeout_s is None:
            timeout_s = float(p["timeout_s"])  # type: ignore[arg-type]
        sock = None
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            sock.connect(p["socket_path"])
            hello = {"type": "hello", "v": PROTOCOL_VERSION, "namespace": p["namespace"], "rank": p["rank"], "pod": p["pod"], "token": p["token"]}
            if p["gpus"]:
                hello["gpus"] = list(p["gpus"])  # type: ignore[call-overload]
            sock.sendall((json.dumps(hello) + "\n").encode())
            reply = self._read_line(sock, timeout_s)
            msg = json.loads(reply)
            if msg.get("type") != "hello" or not msg.get("ok"):
                self._warn("Perseus agent refused hello: %s; retrying between iterations" % msg.get("message", reply))
                sock.close()
                return False
            sock.setblocking(False)
            self._sock = sock
            self.mode = msg.get("mode", "Run")
            self.gpus = list(msg.get("gpus", []))
            self.synchronize_enabled = bool(msg.get("synchronize", False))
            return True
        except (OSError, ValueError) as err:
            if sock is not None:
                sock.close()
            self._warn("Perseus agent unavailable at %s (%s); running without clock control until it is back" % (p["socket_path"], err))
            return False

    @classmethod
    def from_env(cls, **kwargs) -> "PerseusClient":
        """Builds a client from the variables the operator injects into worker pods.

        PERSEUS_AGENT_SOCKET, PERSEUS_RANK, PERSEUS_NAMESPACE (or POD_NAMESPACE, or the service
        account namespace file), PERSEUS_POD (or POD_NAME, or HOSTNAME), PERSEUS_TOKEN_FILE
        (the controller sets it; PERSEUS_TOKEN_PATH is also read; default /etc/perseus/token/token), optional PERSEUS_GPUS (comma-separated UUIDs).
        """
        env = os.environ
        namespace = env.get("PERSEUS_NAMESPACE") or env.get("POD_NAMESPACE")
        if not namespace:
            try:
                with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                    namespace = f.read().strip()
            except OSError:
                namespace = None
        pod = env.get("PERSEUS_POD") or env.get("POD_NAME") or env.get("HOSTNAME")
        token = None
        token_path = env.get("PERSEUS_TOKEN_FILE") or env.get("PERSEUS_TOKEN_PATH") or DEFAULT_TOKEN_PATH
        try:
            with open(token_path) as f:
                token = f.read().strip()
        except OSError:
            token = None
        gpus = [g for g in env.get("PERSEUS_GPUS", "").split(",") if g] or None
        return cls(env.get("PERSEUS_AGENT_SOCKET"), env.get("PERSEUS_RANK"), namespace, pod, token, gpus=gpus, **kwargs)

    @property
    def enabled(self) -> bool:
        """True while connected to an agent."""
        return self._sock is not None

    @property
    def profiling(self) -> bool:
        """True when the agent is sweeping clocks (computations should be synchronized)."""
        return self.synchronize_enabled

    @contextlib.contextmanager
    def instruction(self, instruction: str, microbatch: int, chunk: int = 0) -> Iterator[None]:
        """Marks one computation: ``with client.instruction("forward", mb): output = model(x)``."""
        self.begin(instruction, microbatch, chunk)
        try:
            yield
        finally:
            self.end()

    def begin(self, instruction: str, microbatch: int, chunk: int = 0) -> None:
        if self._sock is None:
            return
        if instruction not in _INSTRUCTIONS:
            self._warn("instruction must be 'forward' or 'backward', got %r" % (instruction,))
            return
        self._send('{"type":"begin","instruction":"%s","microbatch":%d,"chunk":%d}\n' % (instruction, int(microbatch), int(chunk)))

    def end(self) -> None:
        if self._sock is None:
            return
        if self.synchronize_enabled:
            self._sync()
        self._send('{"type":"end"}\n')

    def step_end(self, iteration_seconds: Optional[float] = None) -> None:
        """Marks the end of an iteration; measures its wall time when not given."""
        now = time.monotonic()
        seconds = iteration_seconds if iteration_seconds is not None else now - self._iteration_start
        self._iteration_start = now
        if self._sock is None:
            # Between iterations: the one place a lost agent is looked for again.
            if self._params is not None and now - self._last_attempt >= self.reconnect_interval_s:
                if self._connect(min(self.reconnect_timeout_s, float(self._params["timeout_s"]))):  # type: ignore[arg-type]
                    self.reconnects += 1
            return
        if not seconds > 0:
            return
        self._send('{"type":"step_end","iterationSeconds":%r}\n' % float(seconds))

    def close(self) -> None:
        """Closes the connection for good (no reconnection)."""
        self._params = None
        self._drop()

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> "PerseusClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --

    def _sync(self) -> None:
        try:
            if self._synchronize is not None:
                self._synchronize()
                return
            import torch  # only while profiling, and only if present

            if torch.cuda.is_available():
                torch.cuda.synchronize()
        except Exception:  # noqa: BLE001 - synchronization is best effort
            pass

    def _send(self, line: str) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.send(line.encode())
            self._drain(sock)
        except BlockingIOError:
            pass  # the agent is slow to read: drop this mark rather than stall training
        except OSError as err:
            self._warn("Perseus agent connection lost (%s); continuing without clock control until it is back" % err)
            self._drop()
            self.mode = "Disabled"
            self.synchronize_enabled = False
            self._last_attempt = time.monotonic()

    def _drain(self, sock: socket.socket) -> None:
        """Reads error replies without blocking, keeping the last one for inspection."""
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            raise OSError("agent closed the connection")
        for raw in data.decode(errors="replace").splitlines():
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("type") == "error":
                self.last_error = msg.get("message")
                self._warn("Perseus agent rejected a message: %s" % self.last_error)

    @staticmethod
    def _read_line(sock: socket.socket, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        buf = b""
        while b"\n" not in buf:
            if time.monotonic() > deadline:
                raise OSError("timed out waiting for the agent's hello reply")
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("agent closed the connection")
            buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(message, RuntimeWarning, stacklevel=3)
