"""`latentvj bench --fuzz N`: a real `latentvj serve` under a flood of hostile OSC, and what it did to it.

The server runs as a child process on loopback, with its own temporary config folder (presets, model
folder), so nothing of the user's is touched. This process sends it N datagrams made from a seeded mix of
random bytes, mutated valid messages, valid addresses with wrong arguments, hostile structures (negative
element sizes, deep nesting, unknown type tags, huge arrays), bundles timetagged in the past, near future
and far future, and slow requests (model loads, encodes of missing files, preset stores). Nothing the fuzz
sends can point the server at another machine: datagrams that decode to a /lvj/subscribe are left out.
Nor does it set the output's frame rate or size to valid values: those slow the output down by request.

Reported, all from the one run: datagrams sent and handled, escaped exceptions (tracebacks in the server's
output), log bytes written during the fuzz, resident memory and threads before and after, frames rendered
and the median frame rate before and during the fuzz, how long the server takes to answer /lvj/status
right after, and whether SIGTERM then stops it cleanly.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from latentvj.plugin import oscwire

from .control.params import PARAMS

POOL = 50_000
"""Distinct datagrams made up front; the fuzz sends them in a shuffled cycle, each with its own nonce."""


@dataclass
class FuzzReport:
    sent: int = 0
    received: int = 0
    shed: int = 0
    handled: int = 0
    seconds: float = 0.0
    tracebacks: int = 0
    log_bytes: int = 0
    log_lines: int = 0
    rss_before_kb: int = 0
    rss_early_kb: int = 0
    """Resident memory a tenth of the way through: what the fuzz grows once (a second model prepared)."""
    rss_after_kb: int = 0
    threads_before: int = 0
    threads_after: int = 0
    frames_during: int = 0
    fps_before: float = 0.0
    fps_during: float = 0.0
    status_reply_ms: float = 0.0
    status_tries: int = 0
    echo_ok: bool = False
    echo_said: str = ""
    """What the echo check got instead of the echo, when it did not."""
    stopped_cleanly: bool = False
    stop_seconds: float = 0.0
    errors: int = 0
    dropped_in_kernel: int = 0
    samples: list[float] = field(default_factory=list)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def _bundle(elements: list[bytes], timetag: int = 1) -> bytes:
    return b"#bundle\0" + struct.pack(">Q", timetag) + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def _ntp(unix_time: float) -> int:
    seconds = (unix_time + oscwire.NTP_UNIX_OFFSET) % 2**32
    return (int(seconds) << 32) | int((seconds % 1) * 2**32)


class Fuzzer:
    """Makes hostile datagrams from a seed."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        # Not the output's frame rate and size: a controller may rightly slow the output down, and the fuzz
        # measures what hostile input costs, not what valid settings do.
        self.addresses = [p.address.replace("/N", f"/{i}") for p in PARAMS for i in range(3)
                          if "subscribe" not in p.name and p.name not in ("output/fps", "output/size")]

    def _arg(self):
        rng = self.rng
        return rng.choice([
            lambda: rng.randint(-(2**31), 2**31 - 1), lambda: rng.uniform(-1e6, 1e6), lambda: float("nan"),
            lambda: rng.choice(["drift", "loop", "hold", "x" * rng.randint(0, 300), "emoji-vae", "../etc/passwd",
                                "/etc/passwd", "missing.png"]),
            lambda: rng.random() < 0.5, lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 16))),
            lambda: rng.randint(0, 5), lambda: rng.uniform(0, 2),
        ])()

    def valid_looking(self) -> bytes:
        address = self.rng.choice(self.addresses)
        if address.endswith("/model/load"):
            args = [self.rng.choice(["emoji-vae", "emoji-gan", "nope", "../x", "a/b/../../c"])]
        else:
            args = [self._arg() for _ in range(self.rng.choice([0, 1, 1, 1, 2, 3]))]
        return oscwire.encode_message(address, *args)

    def mutated(self) -> bytes:
        data = bytearray(self.valid_looking())
        for _ in range(self.rng.randint(1, 4)):
            kind = self.rng.random()
            position = self.rng.randrange(len(data))
            if kind < 0.5:
                data[position] = self.rng.getrandbits(8)
            elif kind < 0.7:
                del data[position:]
                if not data:
                    data = bytearray(b"/")
            else:
                data[position:position] = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 8)))
        return bytes(data)

    def hostile(self) -> bytes:
        rng = self.rng
        return rng.choice([
            lambda: _bundle([]) + struct.pack(">i", rng.choice([-4, -1, 0, 3, 1 << 30])),
            lambda: self._nested(rng.randint(2, 400)),
            lambda: _padded(b"/lvj/z") + _padded(b"," + b"[" * rng.randint(1, 3000)) + b"\0" * 4,
            lambda: _padded(b"/lvj/seed") + _padded(b"," + bytes(rng.choice(b"qwxyz") for _ in range(rng.randint(1, 8000)))),
            lambda: oscwire.encode_message("/lvj/z", *[rng.uniform(-20, 20) for _ in range(rng.randint(1, 2000))]),
            lambda: oscwire.encode_message("/lvj/z/" + rng.choice(["\u00b2", "9" * 40, "-1", "1e9", ""]), 1.0),
            lambda: oscwire.encode_message("/lvj/" + "a" * rng.randint(100, 8000), 1.0),
            lambda: _padded(b"/lvj/seed") + _padded(b",b") + struct.pack(">I", 0xFFFFFFFF),
        ])()

    def _nested(self, depth: int) -> bytes:
        data = self.valid_looking()
        for _ in range(depth):
            data = _bundle([data])
        return data

    def timed(self) -> bytes:
        ahead = self.rng.choice([-3600, 0.01, 0.5, 5, 59, 120, 86400 * 300])
        messages = [self.valid_looking() for _ in range(self.rng.randint(1, 20))]
        return _bundle(messages, timetag=_ntp(time.time() + ahead))

    def slow_requests(self) -> bytes:
        rng = self.rng
        return _bundle([rng.choice([
            lambda: oscwire.encode_message("/lvj/model/load", rng.choice(["emoji-vae", "emoji-gan", "nope"])),
            lambda: oscwire.encode_message("/lvj/encode", rng.choice(["missing.png", "../x.png"]), rng.randint(1, 999)),
            lambda: oscwire.encode_message("/lvj/preset/store", rng.randint(1, 999)),
        ])() for _ in range(rng.randint(1, 100))])

    def datagram(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.25:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 512)))
        elif roll < 0.55:
            data = self.mutated()
        elif roll < 0.70:
            data = self.valid_looking()
        elif roll < 0.85:
            data = self.hostile()
        elif roll < 0.97:
            data = self.timed()
        else:
            data = self.slow_requests()
        return data[:65_000]

    def pool(self, size: int) -> list[bytes]:
        out = []
        while len(out) < size:
            data = self.datagram()
            try:
                messages = oscwire.decode(data)
            except oscwire.OscDecodeError:
                messages = []
            if any("subscribe" in m.address for m in messages):
                continue  # never point the server at another host
            out.append(data)
        return out


def _proc_status(pid: int) -> tuple[int, int]:
    """(resident KiB, threads) of a process, from /proc (Linux); (0, 0) elsewhere."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    threads = re.search(r"Threads:\s+(\d+)", text)
    return int(rss[1]) if rss else 0, int(threads[1]) if threads else 0


class Served:
    """`latentvj serve` as a child process on free loopback ports, its output in a file (benchmarks)."""

    def __init__(self, model: str, folder: Path, *args: str, name: str = "fuzz", env: dict | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "serve.log"
        self.log = self.log_path.open("wb")
        env = dict(os.environ, **(env or {}), LATENTVJ_CONFIG=str(folder / "config"))
        self.shm = f"lvj{name}{os.getpid()}"
        command = [sys.executable, "-m", "latentvj.bridge.cli", "serve", "--model", model, "--shm", self.shm, "--osc-port", "0", "--http-port", "0", "--oscquery-port", "0",
                   "--images", str(folder / "images"), *args]
        (folder / "images").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while b"Ctrl-C to stop" not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"latentvj serve did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        banner = self.log_path.read_text(errors="replace")
        self.osc = ("127.0.0.1", int(re.search(r"OSC:\s+udp [\d.]+:(\d+)", banner)[1]))
        self.preview = re.search(r"preview:\s+(http://\S+/)", banner)[1]

    def status(self) -> dict:
        with urllib.request.urlopen(self.preview + "status", timeout=30) as reply:
            return json.load(reply)

    def settled(self, timeout: float = 300.0) -> dict:
        """The status once the model is no longer compiling (measurements then see what plays on stage)."""
        deadline = time.monotonic() + timeout
        while (status := self.status()).get("compiled") == "compiling" and time.monotonic() < deadline:
            time.sleep(0.5)
        return status

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def stop(self) -> tuple[bool, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        return code == 0, time.monotonic() - start


def _fps(served: Served, seconds: float) -> list[float]:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        samples.append(served.status()["fps"])
    return samples


def _ask_status(osc: tuple[str, int]) -> tuple[float, int]:
    """(milliseconds until /lvj/status is answered, tries), from a fresh socket. It asks again every
    0.2 s: right after a flood the kernel's receive buffer may still be full, and drops what comes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        start = time.perf_counter()
        for tries in range(1, 51):
            sock.sendto(oscwire.encode_message("/lvj/status"), osc)
            try:
                while True:
                    data, _ = sock.recvfrom(65535)
                    if oscwire.decode(data)[0].address == "/lvj/status":
                        return 1e3 * (time.perf_counter() - start), tries
            except socket.timeout:
                continue
        return math.inf, tries


def _echo_works(osc: tuple[str, int], tries: int = 5) -> tuple[bool, str]:
    """Whether a change sent now is echoed back, and if not, what came instead. The fuzz's bundles timetagged
    seconds ahead still fire, and a change of theirs in the same moment rightly wins the echo (it tells the
    value now): a few tries with other values tell that from an echo that never comes."""
    heard = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        for n in range(tries):
            value = 7.25 + 0.25 * n
            sock.sendto(oscwire.encode_message("/lvj/walk/period", value), osc)
            try:
                while (message := oscwire.decode(sock.recvfrom(65535)[0])[0]).address != "/lvj/walk/period":
                    heard.append(f"{message.address} {message.args}"[:200])
            except socket.timeout:
                return False, f"no echo in 10 s; heard {heard[-5:] or 'nothing'}"
            except oscwire.OscDecodeError as exc:
                return False, f"a reply that does not decode: {exc}"
            if message.args == [value]:
                return True, ""
            heard.append(f"sent {value}, echoed {message.args}")
    return False, "; ".join(heard[-tries:])


def run_fuzz(count: int, *, model: str, rate: float, seed: int = 0, out: TextIO) -> FuzzReport:
    report = FuzzReport()
    out.write(f"making {min(count, POOL):,} distinct hostile datagrams (seed {seed})...\n")
    out.flush()
    pool = Fuzzer(seed).pool(min(count, POOL))
    with tempfile.TemporaryDirectory(prefix="latentvj-fuzz-") as folder:
        served = Served(model, Path(folder))
        try:
            report.fps_before = statistics.median(_fps(served, 5.0))
            before = served.status()
            report.rss_before_kb, report.threads_before = _proc_status(served.proc.pid)
            log_before = served.log_size()
            out.write(f"serving {before['model']} at {report.fps_before:.1f} fps; sending {count:,} datagrams"
                      f"{f' at {rate:,.0f}/s' if rate else ' as fast as possible'}...\n")
            out.flush()
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(0.5):
                    try:
                        report.samples.append(served.status()["fps"])
                    except OSError:
                        pass

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            order = list(range(len(pool)))
            random.Random(seed).shuffle(order)
            start = time.monotonic()
            for n in range(count):
                data = pool[order[n % len(pool)]]
                try:
                    sock.sendto(data, served.osc)
                except BlockingIOError:
                    time.sleep(0.001)
                except OSError:
                    pass  # EMSGSIZE and the like: not sent
                report.sent += 1
                if n == count // 10:
                    report.rss_early_kb = _proc_status(served.proc.pid)[0]
                if rate and n % 64 == 0:
                    ahead = n / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                if n % 4096 == 0:
                    try:
                        while sock.recv(65535):
                            pass  # the replies to us: read and dropped
                    except (BlockingIOError, OSError):
                        pass
            report.seconds = time.monotonic() - start
            sock.close()
            sampling.set()
            sampler.join()
            report.status_reply_ms, report.status_tries = _ask_status(served.osc)
            report.echo_ok, report.echo_said = _echo_works(served.osc)
            after = served.status()
            report.rss_after_kb, report.threads_after = _proc_status(served.proc.pid)
            report.frames_during = after["frame"] - before["frame"]
            report.fps_during = statistics.median(report.samples) if report.samples else 0.0
            report.received = after.get("osc_received", 0) - before.get("osc_received", 0)
            report.shed = (after.get("osc_overflowed", 0) - before.get("osc_overflowed", 0)
                           + after.get("osc_coalesced", 0) - before.get("osc_coalesced", 0))
            report.handled = report.received - report.shed
            report.errors = after.get("osc_errors", 0)
            report.log_bytes = served.log_size() - log_before
        finally:
            report.stopped_cleanly, report.stop_seconds = served.stop()
        text = served.log_path.read_text(errors="replace")
        report.tracebacks = text.count("Traceback (most recent call last)")
        report.log_lines = text[log_before:].count("\n") if report.log_bytes else 0
    _print(report, out)
    if not report.echo_ok:  # what the server said, to tell why
        out.write("the server's last lines:\n" + "".join(f"  {line}\n" for line in text.splitlines()[-25:]))
    return report


def _print(r: FuzzReport, out: TextIO) -> None:
    cost = 1 - r.fps_during / r.fps_before if r.fps_before else 0.0
    rows = [
        ("datagrams sent", f"{r.sent:,} in {r.seconds:.1f} s ({r.sent / max(r.seconds, 1e-9):,.0f}/s)"),
        ("datagrams received", f"{r.received:,} (the rest dropped by the kernel: its receive buffer was full)"),
        ("datagrams handled", f"{r.handled:,} ({r.shed:,} shed: a sender's queue full, or superseded by a "
                              "newer message to the same address)"),
        ("errors answered or counted", f"{r.errors:,}"),
        ("escaped exceptions", f"{r.tracebacks} (tracebacks in the server's output)"),
        ("log written during the fuzz", f"{r.log_bytes:,} bytes, {r.log_lines:,} lines"),
        ("resident memory", f"{r.rss_before_kb / 1024:.0f} MB before, {r.rss_early_kb / 1024:.0f} MB a tenth of "
                            f"the way, {r.rss_after_kb / 1024:.0f} MB after"),
        ("threads", f"{r.threads_before} before, {r.threads_after} after"),
        ("frames rendered during", f"{r.frames_during:,}"),
        ("median fps", f"{r.fps_before:.1f} before, {r.fps_during:.1f} during (cost {max(0.0, 100 * cost):.0f}%)"),
        ("/lvj/status right after", f"answered in {r.status_reply_ms:.1f} ms ({r.status_tries} "
                                    f"{'try' if r.status_tries == 1 else 'tries'}); a change echoed: "
                                    f"{'yes' if r.echo_ok else 'NO: ' + r.echo_said}"),
        ("SIGTERM", f"{'clean exit' if r.stopped_cleanly else 'NOT clean'} in {r.stop_seconds:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(f"{name:<{width}}  {value}\n")
    out.flush()
