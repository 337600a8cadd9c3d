"""A separate Ray head for job-submission tests, started with `ray start --head --block` and stopped by its pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from raycollect.mirror.server import free_port

_PORTS = ("port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port",
          "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
          "object-manager-port")


class RayHead:
    def __init__(self, log_dir: Path) -> None:
        self.ports = {name: free_port() for name in _PORTS}
        self.log = log_dir / "ray-head.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.ports['dashboard-port']}"

    def __enter__(self) -> RayHead:
        """Start the head; a start that fails (a port taken between its choice and its bind) is tried again on
        other ports, up to 3 times."""
        for _ in range(2):
            try:
                return self._start()
            except RuntimeError:
                self.ports = {name: free_port() for name in _PORTS}
        return self._start()

    def _start(self) -> RayHead:
        ray_cli = str(Path(sys.executable).parent / "ray")
        cmd = [ray_cli, "start", "--head", "--block", "--num-cpus=2", "--include-dashboard=true",
               "--dashboard-host=127.0.0.1", "--disable-usage-stats", *(f"--{k}={v}" for k, v in self.ports.items())]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_text = self.log.read_text()[-2000:]
                self.proc = None
                raise RuntimeError(f"ray start exited: {log_text}")
            # Up once `ray start` says so (every process of the node registered; the dashboard can answer before
            # its node is, and the node still fail) and the jobs API answers (401: up, and asking for the token).
            if "Ray runtime started" in self.log.read_text() and self._answers():
                return self
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError("Ray head did not come up within 90 s")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.address + "/api/version", timeout=2)
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops every process it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session this test created, and nothing else
            proc.wait(timeout=10)
