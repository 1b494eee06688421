"""Child processes for the end-to-end tests: `latentvj serve`, Pure Data, example scripts.

One place for what every such test needs: the output collected by a thread and awaited line by line with a
deadline (never a fixed sleep), a clean stop, and a server's ports read from its banner. The test modules
import it as ``processes`` (conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

TIMEOUT = 60.0


def latentvj_command() -> list[str]:
    """The `latentvj` console script of this environment (or `python -m` when it is not installed)."""
    script = shutil.which("latentvj", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "latentvj.bridge.cli"]


def wait_until(condition, what: str, *, timeout: float = TIMEOUT):
    """Poll ``condition`` until it returns something other than None/False; across processes (shared memory,
    another process's HTTP state) there is no event to wait on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result is not None and result is not False:
            return result
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class ChildProcess:
    """A child process whose output lines are collected by a thread, to be awaited with a timeout."""

    def __init__(self, command: list[str], *, read: str = "stdout", env: dict | None = None):
        """read: "stdout" (stderr merged into it) or "stderr" (Pd prints there with -nogui; stdout dropped)."""
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, text=True, bufsize=1, env=env,
                                     stdout=subprocess.PIPE if read == "stdout" else subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT if read == "stdout" else subprocess.PIPE)
        self.name = os.path.basename(command[0])
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc.stdout or self.proc.stderr,),
                                             daemon=True)
        self._pump_thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for_line(self, pattern: str, *, timeout: float = TIMEOUT) -> re.Match:
        """The first line from now on that matches; fails when the process ends or time runs out first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{self.name}: no line matching {pattern!r} within {timeout:g} s; "
                                     f"its output:\n{''.join(self.output)}") from None
            if line == "":
                self.lines.put("")  # stay at the end for later waits
                raise AssertionError(f"{self.name} ended ({self.proc.wait()}) before a line matching "
                                     f"{pattern!r}; its output:\n{''.join(self.output)}")
            if match := re.search(pattern, line):
                return match

    def finish(self, *, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit by itself and for all its output to be read; the exit status."""
        code = self.proc.wait(timeout=timeout)
        self._pump_thread.join(timeout)
        return code

    def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM (then SIGKILL after ``timeout``); the exit status. Safe to call again."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class ServeProcess(ChildProcess):
    """`latentvj serve ARGS` (give `--osc-port 0` etc. for free ports); ``ready()`` reads the banner."""

    def __init__(self, *args: str, env: dict | None = None):
        super().__init__(latentvj_command() + ["serve", *args], env=env)
        self.name = "latentvj serve"

    def ready(self) -> ServeProcess:
        """Wait for the banner; then ``osc_port``, ``preview`` and ``oscquery`` (URLs end in '/') are set."""
        self.wait_for_line(r"Ctrl-C to stop")
        banner = "".join(self.output)
        self.osc_port = int(re.search(r"OSC:\s+udp [\d.]+:(\d+)", banner)[1])
        self.preview = re.search(r"preview:\s+(http://\S+/)", banner)[1]
        self.oscquery = re.search(r"OSCQuery:\s+(http://\S+/)", banner)[1]
        return self

    def status(self) -> dict:
        try:
            with urllib.request.urlopen(self.preview + "status", timeout=TIMEOUT) as response:
                return json.load(response)
        except OSError as exc:  # say what the server said meanwhile (it may have died)
            code = self.proc.poll()
            state = "running" if code is None else f"exited {code}"
            raise AssertionError(f"GET {self.preview}status: {exc!r} (server {state}); its output:\n"
                                 f"{''.join(self.output)[-4000:]}") from exc

    def wait_for_status(self, **expected) -> dict:
        """/status once it shows all the expected values."""
        def matches():
            status = self.status()
            return status if all(status.get(key) == value for key, value in expected.items()) else None
        try:
            return wait_until(matches, f"/status to show {expected}")
        except AssertionError:
            shown = {key: self.status().get(key) for key in expected}
            raise AssertionError(f"/status shows {shown}, expected {expected}; serve's output:\n"
                                 f"{''.join(self.output)}") from None

    def assert_stops_cleanly(self) -> None:
        assert self.stop() == 0, f"serve exited with {self.proc.returncode}:\n{''.join(self.output)}"


def free_port_args() -> list[str]:
    return ["--osc-port", "0", "--http-port", "0", "--oscquery-port", "0"]


def free_udp_port() -> int:
    """A loopback UDP port free now, for a client that must be told its port up front."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def oscdump(port: int, *, timeout: float = TIMEOUT) -> ChildProcess:
    """liblo's ``oscdump -L PORT``, once it listens: it says nothing when it is ready, so it is probed until
    it prints a probe."""
    dump = ChildProcess(["oscdump", "-L", str(port)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        deadline = time.monotonic() + timeout
        while True:
            probe.sendto(b"/probe\0\0,\0\0\0", ("127.0.0.1", port))
            try:
                dump.wait_for_line(r"/probe", timeout=0.2)
                return dump
            except AssertionError:
                if dump.proc.poll() is not None or time.monotonic() > deadline:
                    dump.stop()
                    raise
