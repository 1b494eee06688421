"""`latentvj bench`: the bare forward pass against the whole engine, measured in the same run.

For each resolution it alternates rounds of (a) the model's forward pass alone, z already on the device,
synchronised per frame, and (b) the engine's render loop running flat out (fps 0) into a real
shared-memory ring: control snapshot, walk, forward pass, uint8 conversion, copy to host, ring write,
preview hand-off. Medians over all rounds; the ratio engine fps / forward fps says how much of the model's
speed reaches the consumer. Alternating rounds spreads the noise of a shared machine over both.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, TextIO

import torch

from latentvj.models.checkpoint import LoadedModel
from latentvj.models.kinds import KINDS
from latentvj.models.registry import load

from .device import describe, pick_device, pick_dtype
from .engine import MAX_LATENCY_S, Engine, EngineConfig
from .control.osc import OscProtocol, OscServer
from .folders import default_config_dir
from .outputs.preview import PreviewEncoder
from .outputs.shm import ShmFrameWriter
from .renderer import compile_options


@dataclasses.dataclass
class BenchResult:
    resolution: int
    forward_ms: float
    engine_ms: float
    sending_ms: float = 0.0
    """Engine ms per frame while a separate process sends the flood to a socket nobody reads: the cost
    of the sender alone on this machine (``--flood``)."""
    flooded_ms: float = 0.0
    """Engine ms per frame while the same process floods the engine's OSC server (``--flood``)."""
    flood_received: float = 0.0
    """OSC messages per second the server actually handled during the flood."""
    outputs_ms: float = 0.0
    """Engine ms per frame with the network outputs attached too (``--outputs``): jit.net.send streaming to
    a receiver that reads everything, and an NDI sender when cyndilib is installed."""
    outputs: str = ""
    """Which outputs were attached."""
    outputs_sent: int = 0
    """Frames the Jitter output actually sent in those rounds (latest wins: a faster engine than the socket
    drops the frames in between)."""
    blend_ms: float = 0.0
    """Engine ms per frame with the crossfader half-way (``--blend``): both decks drawn and blended, two
    forward passes a frame."""
    gflop: float = 0.0
    """The model's GFLOP per frame (torch's FLOP counter over one forward pass: convolutions and matrix
    products, 2 per multiply-add)."""
    eager_ms: float = 0.0
    """With ``--compile``: the uncompiled forward pass (``forward_ms`` is then the compiled one, and the engine
    plays it)."""
    compile_s: float = 0.0
    """With ``--compile``: how long compiling took."""
    contiguous_ms: float = 0.0
    """For a kind that plays channels-last (``ModelKind.channels_last``): the same eager forward pass with
    the weights in the default (contiguous) layout; ``forward_ms`` is then the channels-last one."""
    live_ms: float = 0.0
    """With ``--live``: engine ms per frame as a show runs it: the preview watched by a client (JPEG encoding
    on, at most 30 a second) and a controller's 1,000 OSC messages a second handled by the engine's OSC
    server, from another process."""
    live_jpegs: int = 0
    """JPEGs the watching client got in those rounds."""
    live_received: float = 0.0
    """OSC messages per second the server handled in those rounds."""
    baseline_ms: float = 0.0
    """With ``--baseline``: ms per frame of the single loop a user would write (:data:`BASELINE`), run in
    the same bench at the model's own size."""
    batch: int = 1
    """Frames drawn in one pass (``--batch``): the forward pass draws that many at once, the engine draws
    them ahead with its lookahead; every ms is per frame."""

    @property
    def ratio(self) -> float:
        return self.forward_ms / self.engine_ms

    def achieved(self, peak_gflops: float) -> float:
        """The forward pass's share of the device's measured matrix-multiply peak."""
        return self.gflop / (self.forward_ms / 1e3) / peak_gflops if peak_gflops > 0 else 0.0


def matmul_peak(device: torch.device, dtype: torch.dtype, *, n: int = 2048, repeats: int = 10) -> float:
    """The device's matrix-multiply rate in GFLOP/s: the median of ``repeats`` n x n products at the
    renderer's precision and thread count (the ceiling the convolutions are measured against)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times[2:]) / 1e9


def forward_gflop(model: LoadedModel, device: torch.device, dtype: torch.dtype) -> float:
    """GFLOP of one forward pass of ``model`` (already on ``device``), by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    z = torch.zeros(1, model.latent_dim, device=device, dtype=dtype)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.render(z)
    return counter.get_total_flops() / 1e9


def at_resolution(model: LoadedModel, resolution: int) -> LoadedModel:
    """The same architecture at another resolution, randomly initialised (speed does not depend on the
    weights' values)."""
    if resolution == model.resolution:
        return model
    config = dataclasses.replace(model.config, resolution=resolution)
    network = KINDS[model.kind].network(config).eval().requires_grad_(False)
    metadata = dict(model.metadata, resolution=resolution, random_init=True)
    return LoadedModel(model.kind, config, network, metadata, model.path)


class _Stopwatch:
    """A sink that timestamps frames and stops the engine after ``frames`` of them."""

    def __init__(self, frames: int, stop: threading.Event):
        self.frames, self.stop, self.times = frames, stop, []

    def write(self, pixels, *, timestamp=None) -> None:
        self.times.append(time.perf_counter())
        if len(self.times) > self.frames:
            self.stop.set()


FLOODER = r"""
import socket, struct, sys, time
host, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def message(value):  # /lvj/walk/speed ,f value
    return b"/lvj/walk/speed\0" + b",f\0\0" + struct.pack(">f", value)
packets = [message(0.5 + (i % 100) / 100) for i in range(100)]
batch, sent, start = max(1, int(rate / 200)), 0, time.monotonic()
while True:
    for _ in range(batch):
        sock.sendto(packets[sent % 100], (host, port))
        sent += 1
    ahead = sent / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)  # pacing the sender, not the server
"""


class _DrainingReceiver:
    """A TCP server that accepts one connection and reads and discards everything: a jit.net.recv that
    keeps up, so the sender really sends every frame it can."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = 0
        self.thread = threading.Thread(target=self._drain, name="bench-jit-recv", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:  # closed before anyone connected
            return
        with conn:
            while chunk := conn.recv(1 << 20):
                self.received += len(chunk)

    def close(self) -> None:
        self.listener.close()


class _Outputs:
    """The optional network outputs of `serve`, attached as they are there: --jitter and --ndi."""

    def __init__(self, fps: float):
        from .outputs.jitnet import JitNetSender

        self.receiver = _DrainingReceiver()
        self.sinks = [JitNetSender("127.0.0.1", self.receiver.port, reconnect_interval=0.05)]
        self.names = ["jitter"]
        from .outputs.ndi import NdiSender, ndi_available

        if ndi_available() is None:
            self.sinks.append(NdiSender(f"latentvj-bench-{os.getpid()}", fps=fps))
            self.names.append("ndi (no receiver: idle)")
        for sink in self.sinks:
            sink.start()
        deadline = time.monotonic() + 10
        while not self.sinks[0].status()["connected"] and time.monotonic() < deadline:
            time.sleep(0.01)  # the sender's thread connects in the background

    def close(self) -> None:
        for sink in self.sinks:
            sink.stop()
        self.receiver.close()


class _Watched:
    """The preview as a browser uses it: an encoder with a client taking every JPEG it makes (at most 30
    a second), off the render thread."""

    def __init__(self):
        self.encoder = PreviewEncoder()
        self.encoder.start()
        self.jpegs = 0
        self._stop, self._first = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-preview-client", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self.encoder.watched and time.monotonic() < deadline:
            time.sleep(0.001)  # the client's thread starts waiting: from then on frames are encoded

    def _watch(self) -> None:
        seq = 0
        while not self._stop.is_set():
            got = self.encoder.next_jpeg(seq, timeout=0.5)
            if got is not None:
                seq = got[1]
                self.jpegs += 1
                self._first.set()

    def close(self) -> None:
        if self.encoder.copies:
            self._first.wait(2)  # a frame handed over in a very short round: its JPEG counts
        self._stop.set()
        self.encoder.stop()
        self._thread.join(5)


LIVE_OSC_RATE = 1000.0
"""OSC messages a second in the ``--live`` rounds: a controller moving a fader, and then some."""


class _Flood:
    """A separate process flooding OSC messages at the engine's OSC server, or (``served=False``) at a
    socket nobody reads: what the sending process alone costs on a shared machine."""

    def __init__(self, engine: Engine, rate: float, *, served: bool = True):
        self.server: OscServer | None = None
        if served:
            self.server = OscServer(OscProtocol(engine.control, status=engine.status), port=0)
            self.server.start()
            port = self.server.address[1]
        else:
            self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sink.bind(("127.0.0.1", 0))
            port = self.sink.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-c", FLOODER, "127.0.0.1", str(port), str(rate)])
        self.started, self._heard = time.monotonic(), 0

    def rate(self) -> float:
        """Messages a second the server handled since it started (or since :meth:`wait_heard`)."""
        if not self.server:
            return 0.0
        return (self.server.received - self._heard) / (time.monotonic() - self.started)

    def wait_heard(self, timeout: float = 10.0) -> None:
        """Until the server has handled the sender's first messages (its process takes a while to start);
        :meth:`rate` counts from then."""
        deadline = time.monotonic() + timeout
        while self.server.received == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        self.started, self._heard = time.monotonic(), self.server.received

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.server:
            self.server.stop()
        else:
            self.sink.close()


def per_frame(times: list[float], batch: int) -> list[float]:
    """Seconds a frame from a sink's write times, over each ``batch`` frames in turn: a lookahead's batch
    comes out as one long wait and then its frames at once, so any ``batch`` intervals in a row hold one
    pass."""
    gaps = [b - a for a, b in zip(times, times[1:])]
    return [sum(gaps[i:i + batch]) / batch for i in range(0, len(gaps) - batch + 1, batch)]


def bench_one(model: LoadedModel, *, device: str, precision: str, frames: int, rounds: int,
              flood: float = 0.0, outputs: bool = False, blend: bool = False, compile: bool = False,
              live: bool = False, batch: int = 1) -> BenchResult:
    dev = pick_device(device)
    dtype = pick_dtype(dev, precision)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        elif dev.type == "mps":
            torch.mps.synchronize()

    # the engine keeps the thread count the bare forward pass is measured at, so the two compare; a batch is
    # drawn by its lookahead (flat out: ``batch`` frames a pass), batches whether or not they are faster
    engine = Engine(model, config=EngineConfig(device=device, precision=precision, fps=0,
                                               threads=torch.get_num_threads(), compile=compile,
                                               max_latency=MAX_LATENCY_S if batch > 1 else 0.0, batch=batch))
    engine.batching.forced = True
    fast = engine.prepared.fast
    if compile and not fast.done.wait(1800):
        raise RuntimeError("compiling took over half an hour")
    if compile and (fast.function is None or batch not in fast.batches):
        raise RuntimeError(f"the model did not compile{f' for batches of {batch}' if batch > 1 else ''}: {fast.state}")
    kind = KINDS[model.kind]
    bare = None
    if compile:  # the bare compiled network, as the engine's is made but without the frame's ends around it
        import torch._inductor.config as inductor

        inductor.freezing = True
        bare = torch.compile(kind.compiled_part(model.network), dynamic=False, **compile_options(dev))
    eager: list[float] = []
    contiguous: list[float] = []
    # the layout the renderer did not choose, for the ratio (a twin: the playing network keeps its own)
    twin = copy.deepcopy(model.network).to(memory_format=torch.contiguous_format) if kind.channels_last else None
    ring = ShmFrameWriter(f"lvjbench{os.getpid()}", engine.width, engine.height, channels=engine.channels)
    forward, end_to_end, flooded, sending, with_outputs, blended, lived = [], [], [], [], [], [], []
    jpegs, live_rate = 0, 0.0
    received = 0.0
    network = _Outputs(30.0) if outputs else None
    try:
        engine.warm_up()
        with torch.inference_mode():  # z made inside, as the renderer makes its latents (compiled guards check)
            z = torch.randn(batch, model.latent_dim, generator=torch.Generator().manual_seed(0)).to(dev, dtype)
            for _ in range(3):
                model.render(z)
            sync()
            if compile:
                for _ in range(3):
                    kind.draw_compiled(bare, model.network, z, 1.0)
            for _ in range(3 if twin is not None else 0):
                kind.draw(twin, z, 1.0)
            for _ in range(rounds):
                for _ in range(frames):
                    start = time.perf_counter()
                    model.render(z)
                    sync()
                    (eager if compile else forward).append((time.perf_counter() - start) / batch)
                for _ in range(frames if twin is not None else 0):
                    start = time.perf_counter()
                    kind.draw(twin, z, 1.0)
                    sync()
                    contiguous.append((time.perf_counter() - start) / batch)
                for _ in range(frames if compile else 0):
                    start = time.perf_counter()
                    kind.draw_compiled(bare, model.network, z, 1.0)
                    sync()
                    forward.append((time.perf_counter() - start) / batch)
                stop = threading.Event()
                watch = _Stopwatch(frames, stop)
                engine.sinks = [ring, PreviewEncoder(), watch]
                engine.run(stop)
                end_to_end.extend(per_frame(watch.times, batch))
                if live:  # as a show runs it: the preview watched, a controller sending 1,000 messages a second
                    watched, controller = _Watched(), _Flood(engine, LIVE_OSC_RATE)
                    try:
                        controller.wait_heard()
                        stop = threading.Event()
                        watch = _Stopwatch(frames, stop)
                        engine.sinks = [ring, watched.encoder, watch]
                        engine.run(stop)
                        live_rate = max(live_rate, controller.rate())
                    finally:
                        controller.close()
                        watched.close()
                    jpegs += watched.jpegs
                    lived.extend(per_frame(watch.times, batch))
                if blend:  # both decks (the same architecture, other seeds) half-way: two forward passes
                    engine.control.set("smoothing", 0.0)
                    engine.control.set("deck/b/seed", 1)
                    engine.control.set("crossfade", 0.5)
                    stop = threading.Event()
                    watch = _Stopwatch(frames, stop)
                    engine.sinks = [ring, PreviewEncoder(), watch]
                    engine.run(stop)
                    blended.extend(per_frame(watch.times, batch))
                    engine.control.set("crossfade", 0.0)
                if network:
                    stop = threading.Event()
                    watch = _Stopwatch(frames, stop)
                    engine.sinks = [ring, PreviewEncoder(), *network.sinks, watch]
                    engine.run(stop)
                    with_outputs.extend(per_frame(watch.times, batch))
                if flood > 0:
                    engine.control.set("smoothing", 0.0)
                    for served, times in ((False, sending), (True, flooded)):
                        flooding = _Flood(engine, flood, served=served)
                        try:
                            stop = threading.Event()
                            watch = _Stopwatch(frames, stop)
                            engine.sinks = [ring, PreviewEncoder(), watch]
                            engine.run(stop)
                            received = max(received, flooding.rate())
                        finally:
                            flooding.close()
                        times.extend(per_frame(watch.times, batch))
    finally:
        ring.close()
        if network:
            network.close()
    result = BenchResult(model.resolution, 1e3 * statistics.median(forward), 1e3 * statistics.median(end_to_end),
                         batch=batch)
    result.gflop = forward_gflop(model, dev, dtype)
    if compile:
        result.eager_ms, result.compile_s = 1e3 * statistics.median(eager), fast.seconds
    if contiguous:
        result.contiguous_ms = 1e3 * statistics.median(contiguous)
    if network:
        result.outputs_ms = 1e3 * statistics.median(with_outputs)
        result.outputs_sent = network.sinks[0].status()["sent_frames"]
        result.outputs = (f"{', '.join(network.names)}; jitter sent {result.outputs_sent} of "
                          f"{len(with_outputs) + rounds} frames")
    if blended:
        result.blend_ms = 1e3 * statistics.median(blended)
    if lived:
        result.live_ms, result.live_jpegs, result.live_received = 1e3 * statistics.median(lived), jpegs, live_rate
    if flooded:
        result.sending_ms = 1e3 * statistics.median(sending)
        result.flooded_ms = 1e3 * statistics.median(flooded)
        result.flood_received = received
    return result


def run_bench(model_name: str, *, device: str = "auto", precision: str = "auto", sizes: list[int] | None = None,
              frames: int = 120, rounds: int = 5, flood: float = 0.0, outputs: bool = False, blend: bool = False,
              compile: bool = False, baseline: bool = False, live: bool = False, batch: int = 1,
              out: TextIO) -> list[BenchResult]:
    model = load(model_name, [default_config_dir() / "models"])
    dev = pick_device(device)
    config = model.config
    width = getattr(config, "ngf", getattr(config, "base", None)) or f"{config.channel_base}/{config.channel_max}"
    out.write(f"model {model.name}: {model.kind}, latent {model.latent_dim}, width {width}; "
              f"device {describe(dev)} {str(pick_dtype(dev, precision)).removeprefix('torch.')}; "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    peak = matmul_peak(dev, pick_dtype(dev, precision))
    batches = (f"; batches of {batch} (ms a frame: forward passes of {batch} frames, the engine drawing them "
               "ahead)") if batch > 1 else ""
    out.write(f"{frames} frames x {rounds} rounds, alternating; medians; matrix-multiply peak {peak:,.0f} GFLOP/s"
              f"{batches}\n")
    header = (f"{'size':>6} {'forward ms':>11} {'forward fps':>12} {'engine ms':>10} {'engine fps':>11} {'ratio':>6}"
              f" {'GFLOP':>7} {'of peak':>7}")
    if KINDS[model.kind].channels_last:
        header += f" {'contiguous ms':>13} {'layout gain':>11}"
    if compile:
        header += f" {'eager ms':>9} {'compiled/eager':>14} {'compile s':>9}"
    if baseline:
        header += f" {'baseline ms':>11} {'x baseline':>10}"
    if flood:
        header += f" {'sender ms':>10} {'flooded ms':>11} {'flood ratio':>11} {'msgs/s':>8}"
    if outputs:
        header += f" {'outputs ms':>11} {'outputs ratio':>13}"
    if blend:
        header += f" {'blend ms':>9} {'blend/one':>9}"
    if live:
        header += f" {'live ms':>8} {'live ratio':>10} {'JPEGs':>6} {'msgs/s':>7}"
    out.write(header + "\n")
    results = []
    for resolution in sizes or [model.resolution]:
        result = bench_one(at_resolution(model, resolution), device=device, precision=precision,
                           frames=frames, rounds=rounds, flood=flood, outputs=outputs, blend=blend, compile=compile,
                           live=live, batch=batch)
        results.append(result)
        line = (f"{resolution:>6} {result.forward_ms:>11.2f} {1e3 / result.forward_ms:>12.1f} "
                f"{result.engine_ms:>10.2f} {1e3 / result.engine_ms:>11.1f} {result.ratio:>6.3f}"
                f" {result.gflop:>7.2f} {result.achieved(peak):>7.1%}")
        if result.contiguous_ms:
            played = result.eager_ms or result.forward_ms  # the channels-last eager pass
            line += f" {result.contiguous_ms:>13.2f} {result.contiguous_ms / played:>11.2f}"
        if compile:
            line += f" {result.eager_ms:>9.2f} {result.eager_ms / result.forward_ms:>14.2f} {result.compile_s:>9.1f}"
        if baseline:
            result.baseline_ms = baseline_at(model, model_name, resolution, frames)
            line += f" {result.baseline_ms:>11.2f} {result.baseline_ms / result.engine_ms:>10.2f}"
        if flood:
            line += (f" {result.sending_ms:>10.2f} {result.flooded_ms:>11.2f}"
                     f" {result.sending_ms / result.flooded_ms:>11.3f} {result.flood_received:>8.0f}")
        if outputs:
            line += f" {result.outputs_ms:>11.2f} {result.engine_ms / result.outputs_ms:>13.3f}"
        if blend:
            line += f" {result.blend_ms:>9.2f} {result.blend_ms / result.engine_ms:>9.2f}"
        if live:
            line += (f" {result.live_ms:>8.2f} {result.forward_ms / result.live_ms:>10.3f} {result.live_jpegs:>6}"
                     f" {result.live_received:>7.0f}")
        out.write(line + "\n")
        out.flush()
    if outputs and results:
        out.write(f"outputs: {results[-1].outputs}; outputs ratio = engine ms without them / with them\n")
    if results and results[-1].contiguous_ms:
        out.write("the model plays channels-last (eager, and compiled from it); layout gain = contiguous ms / "
                  "channels-last eager ms\n")
    if live:
        out.write(f"--live: the engine with the preview watched (JPEGs encoded, at most 30 a second) and "
                  f"{LIVE_OSC_RATE:,.0f} OSC messages a second from another process; live ratio = forward ms / "
                  "live ms\n")
    if compile:
        out.write("--compile: forward and engine play the compiled pass (torch.compile, inductor, freezing; "
                  "on the CPU a C++ wrapper); compiled/eager = eager ms / compiled ms\n")
    return results


# ---- render nodes on one Link session ------------------------------------------------------------------

def link_nodes(seconds: float, *, model: str, tempo_to: float = 137.0, out: TextIO) -> dict:
    """Two `latentvj serve --link` processes, started at different moments, on one Ableton Link session
    (on this machine's network; run it inside a network namespace of its own, see docs/tempo.md). Both are
    sampled together about ten times a second. Each status holds the timeline's position its last frame
    draws, when that position was taken from the clock and when the frame was ready; two figures follow:

    - clock: both positions carried to one moment from when they were taken: whether the two nodes' clocks
      agree (the walks are functions of the position, so equal positions are equal frames);
    - shown: both carried from when their frames were ready: the beat of the frames each node shows at one
      moment, which also counts how long each frame took to draw.

    Half way, the first node's tempo is changed over OSC; Link carries it to the second. Differences are in
    milliseconds at the tempo (a frame period at 30 fps is 33.3 ms). The nodes run one torch thread each
    (OMP_NUM_THREADS=1): two nodes share this machine's cores, where a real wall has a machine each."""
    import json
    import tempfile
    from pathlib import Path

    from .control.commands import build_message
    from .fuzz import Served

    def difference(a: dict, b: dict, when: str) -> tuple[float, float]:
        at = max(a["tempo"][when], b["tempo"][when])
        (pa, bpm), (pb, _) = ((s["tempo"]["beat"] + (at - s["tempo"][when]) * s["tempo"]["bpm"] / 60.0,
                               s["tempo"]["bpm"]) for s in (a, b))
        return (pa - pb) * 60.0 / bpm * 1000.0, bpm

    single = {"OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in single}
    os.environ.update(single)
    with tempfile.TemporaryDirectory(prefix="lvj-link-") as folder:
        nodes = []
        try:
            nodes.append(Served(model, Path(folder) / "a", "--link", "--no-presets", name="linka"))
            time.sleep(1.5)  # the second node starts later: the walk must not depend on when a node started
            nodes.append(Served(model, Path(folder) / "b", "--link", "--no-presets", name="linkb"))
            deadline = time.monotonic() + 30
            while min(n.status()["tempo"]["peers"] or 0 for n in nodes) < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the two nodes did not find each other on Link in 30 s")
                time.sleep(0.1)
            samples: list[tuple[float, float, float, float]] = []  # (seconds in, clock ms, shown ms, bpm)
            start = time.monotonic()
            changed_at = seconds / 2
            changed = False
            while (elapsed := time.monotonic() - start) < seconds:
                if not changed and elapsed >= changed_at:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                        sock.sendto(build_message("/lvj/tempo/bpm", float(tempo_to)), nodes[0].osc)
                    changed_at, changed = elapsed, True
                a, b = (n.status() for n in nodes)
                if abs(a["tempo"]["bpm"] - b["tempo"]["bpm"]) < 0.01:  # not between the change's two sides
                    clock_ms, bpm = difference(a, b, "beat_time")
                    samples.append((elapsed, clock_ms, difference(a, b, "frame_time")[0], bpm))
                time.sleep(0.1)
            peers = min(n.status()["tempo"]["peers"] or 0 for n in nodes)
        finally:
            for node in nodes:
                node.stop()
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)

    def figures(part, column):
        ms = sorted(abs(s[column]) for s in part)
        return {"median_ms": round(statistics.median(ms), 3) if ms else None,
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3) if ms else None,
                "max_ms": round(ms[-1], 3) if ms else None}

    after = [s for s in samples if s[0] >= changed_at + 1.0]  # a second for the change to reach both
    result = {"seconds": seconds, "peers_seen": peers, "frame_period_ms": round(1000 / 30, 1),
              "tempo_changed_to": tempo_to, "samples": len(samples), "clock": figures(samples, 1),
              "shown": figures(samples, 2),
              "after_tempo_change": {"samples": len(after), "bpm": after[-1][3] if after else None,
                                     "clock": figures(after, 1), "shown": figures(after, 2)}}
    for name, part in (("all", result), ("after the tempo change to %g BPM" % tempo_to, result["after_tempo_change"])):
        out.write(f"two nodes on one Link session, {seconds:g} s, {name}: {part['samples']} samples; beat "
                  f"difference, clock: median {part['clock']['median_ms']} ms, max {part['clock']['max_ms']} ms; "
                  f"frames shown: median {part['shown']['median_ms']} ms, p95 {part['shown']['p95_ms']} ms, "
                  f"max {part['shown']['max_ms']} ms (a frame at 30 fps: 33.3 ms)\n")
    return result


# ---- live audio: from a click to the first frame that shows it ----------------------------------------

CLICK_GAP_S = 0.5
"""Seconds between clicks, plus a random part of a frame so the clicks fall at every phase of the frames."""


def audio_latency(seconds: float, *, model: str, out: TextIO) -> dict:
    """Clicks through JACK (its dummy driver, a server of this run's own) into `latentvj serve --audio`,
    with a route from audio:onset to the fade: each click darkens the frames. A player of ours (a JACK
    client through sounddevice, in its own process) notes when each click goes into JACK; this process reads
    the shared-memory ring and notes when each frame was published (the writer's timestamp). The latency
    of a click is from it to the first frame published after it that is dark: the audio block, the
    features, the wait for the next frame, its drawing and its publishing. Needs jackd (Debian jackd2) and
    the audio extra."""
    import importlib.util
    import shutil
    import tempfile
    from pathlib import Path

    from .control.commands import build_message
    from .fuzz import Served

    missing = [tool for tool in ("jackd", "jack_wait", "jack_lsp", "jack_connect") if shutil.which(tool) is None]
    if missing or importlib.util.find_spec("sounddevice") is None:
        raise RuntimeError(f"--audio-latency needs JACK ({', '.join(missing) or 'found'}: apt-get install jackd2) "
                           "and the audio extra (pip install 'latentvj[audio]')")
    name = f"lvjlatency{os.getpid()}"
    env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1", "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    served = None
    try:
        processes.append(subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000",
                                           "-p", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        subprocess.run(["jack_wait", "-w", "-t", "30"], check=True, capture_output=True, timeout=40)
        with tempfile.TemporaryDirectory(prefix="lvj-latency-") as folder:
            served = Served(model, Path(folder), "--no-presets", "--no-routes", "--audio", "system",
                            name="latency")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(build_message("/lvj/mod/route", "audio:onset", "output/fade", "amount=-1"), served.osc)
            before = set(_jack_ports())
            player = subprocess.Popen([sys.executable, "-c", "from latentvj.bridge.bench import play_clicks; "
                                       f"play_clicks({seconds!r})"], stdout=subprocess.PIPE, text=True)
            processes.append(player)
            assert player.stdout is not None
            if player.stdout.readline().strip() != "playing":
                raise RuntimeError("the click player did not start")
            ours = [p for p in set(_jack_ports()) - before if p.endswith("out_0") or p.endswith("out_1")][:1]
            inputs = [p for p in before if p.endswith("in_0") or p.endswith("in_1")][:1]
            if not ours or not inputs:
                raise RuntimeError(f"no JACK ports to connect: player {ours}, server {inputs}")
            subprocess.run(["jack_connect", ours[0], inputs[0]], check=True, capture_output=True)
            frames: list[tuple[float, float]] = []  # (published, mean brightness)
            clicks: list[float] = []
            reading = threading.Event()

            def read_frames() -> None:
                for frame in new_frames(served.shm, reading.is_set):
                    frames.append((frame.timestamp, float(frame.pixels.mean())))

            reader_thread = threading.Thread(target=read_frames, daemon=True)
            reader_thread.start()
            for line in player.stdout:
                if line.startswith("click "):
                    clicks.append(float(line.split()[1]))
            player.wait(30)
            reading.set()
            reader_thread.join(5)
            onsets = served.status().get("audio", {}).get("onsets", 0)
            served.stop()
            served = None
    finally:
        if served is not None:
            served.stop()
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return _latency_figures(clicks, frames, onsets, out)


def _latency_figures(clicks: list[float], frames: list[tuple[float, float]], onsets: int, out: TextIO) -> dict:
    """Each click's latency: to the first frame published after it whose brightness fell below half of the
    frames' usual (their median) brightness; a click no frame shows within CLICK_GAP_S is missed. The first
    click (the features learn their range on it) and the clicks of the last CLICK_GAP_S are not counted."""
    bright = statistics.median(mean for _, mean in frames) if frames else 0.0
    last = frames[-1][0] if frames else 0.0
    clicks = [c for c in clicks if c < last - CLICK_GAP_S]  # not those whose frames came after the reading
    latencies, missed_at = [], []
    for click in clicks[1:]:  # the first click teaches the features their range
        shown = next((t for t, mean in frames if t > click and mean < 0.5 * bright), None)
        if shown is None or shown - click > CLICK_GAP_S:
            missed_at.append(round(click - clicks[0], 2))
        else:
            latencies.append(1000.0 * (shown - click))
    latencies.sort()

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None

    missed = len(missed_at)
    figures = {"clicks": len(clicks) - 1, "heard_onsets": onsets, "shown": len(latencies), "missed": missed,
               "missed_at_s": missed_at,
               "frames": len(frames), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
               "max_ms": round(latencies[-1], 1) if latencies else None,
               "frame_period_ms": round(1000 / 30, 1), "block_ms": round(1000 * 512 / 48000, 1)}
    out.write(f"click to frame through JACK: {figures['shown']} of {figures['clicks']} clicks shown "
              f"({missed} missed; {onsets} onsets heard), latency p50 {figures['p50_ms']} ms, p90 "
              f"{figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms (a frame at 30 fps: "
              f"33.3 ms; an audio block: 10.7 ms)\n")
    return figures


def _jack_ports() -> list[str]:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split("\n")


def play_clicks(seconds: float) -> None:
    """The latency bench's click player (its own process: PortAudio is never started in the bench's): a JACK
    output through sounddevice, a click every CLICK_GAP_S plus a random part of a frame; prints "playing",
    then "click T" (time.time() of the click's first sample going into JACK) for each."""
    import queue
    import random

    import numpy as np
    import sounddevice

    rate = 48000
    shape = (np.hanning(96) * 0.8).astype(np.float32)
    rng = random.Random(0)
    state = {"at": 0, "next": int(rate * 0.5)}
    said: queue.Queue = queue.Queue()

    def callback(outdata, frames, when, status):
        now = time.time()
        outdata.fill(0)
        start = state["at"]
        while state["next"] + len(shape) <= start + frames:
            k = state["next"] - start
            outdata[k:k + len(shape), 0] = shape
            said.put(now + k / rate)
            state["next"] += int(rate * (CLICK_GAP_S + rng.uniform(0, 1 / 30)))
        if state["next"] < start + frames:  # a click would straddle two buffers: start it in the next
            state["next"] = start + frames
        state["at"] = start + frames

    device = next(i for i, d in enumerate(sounddevice.query_devices())
                  if d["max_output_channels"] > 0 and "system" in d["name"].lower())
    with sounddevice.OutputStream(device=device, channels=1, samplerate=rate, blocksize=256, dtype="float32",
                                  callback=callback):
        print("playing", flush=True)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                print(f"click {said.get(timeout=0.1):.6f}", flush=True)
            except queue.Empty:
                pass
        time.sleep(0.6)
    while not said.empty():
        print(f"click {said.get():.6f}", flush=True)
    sys.stdout.flush()
    os._exit(0)  # PortAudio's JACK host may assert at exit once its server is gone: nothing is left to do


# ---- holding a frame rate on a shared machine ---------------------------------------------------------------

CONTENDER = "while True: pass"
"""Another program that keeps one core busy (what a host application's heavy moment looks like)."""


@dataclasses.dataclass
class PacedResult:
    label: str
    frames: int
    fps: float
    interval_std_ms: float
    worst_gap_ms: float
    threads: int | None
    osc_per_s: float = 0.0
    """OSC messages a second the server handled while it was timed."""
    cpu_percent: float | None = None
    """The server's CPU time while it was timed, in percent of one core (None where /proc is not)."""
    lookahead: int = 0
    """Frames the server's lookahead may draw ahead (0: off)."""
    batch: int = 1
    """Frames the server's last pass drew (the lookahead's batch, or 1)."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


FLOOD_RATE = 20_000
"""Messages a second the paced bench's flood case sends (/lvj/walk/speed, from a process of its own)."""


def new_frames(shm: str, done: Callable[[], bool]) -> Iterator:
    """A server's frames from its shared-memory ring, each new one once (its pixels and the writer's
    timestamp), until ``done()``."""
    from latentvj.plugin.shmring import ShmFrameReader

    with ShmFrameReader(shm) as reader:
        last = 0
        while not done():
            frame = reader.read()
            if frame is not None and frame.number != last:
                last = frame.number
                yield frame
            time.sleep(0.002)


def _lookahead_args(max_latency_ms: float) -> tuple[str, ...]:
    return ("--max-latency-ms", f"{max_latency_ms:g}") if max_latency_ms else ()


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time a process has used (user and system), from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def paced(seconds: float, *, model: str, fps: float = 30.0, size: str | None = None, max_latency_ms: float = 0.0,
          out: TextIO) -> list[PacedResult]:
    """A real `latentvj serve` at a fixed target, its frames read from shared memory with the writer's own
    timestamps, for ``seconds`` each: on a quiet machine, with another process keeping one core busy, with
    another process flooding its OSC port at FLOOD_RATE messages a second, and (for comparison) with the
    busy core and torch's own thread count without LatentVJ's choices (spinning OpenMP threads, one per
    core): what a realtime loop gets as a new user would have run it. With ``max_latency_ms``, also quiet
    and beside the busy core with that lookahead."""
    import tempfile

    from .fuzz import Served
    from .threads import usable_cores

    cases = [("quiet, --threads auto", False, ()), ("one core busy, --threads auto", True, ()),
             (f"OSC flood {FLOOD_RATE:,} msg/s, --threads auto", "flood", ()),
             (f"one core busy, torch's {usable_cores()} spinning threads", True, ("--threads", str(usable_cores())))]
    if max_latency_ms:
        ahead = _lookahead_args(max_latency_ms)
        cases[1:1] = [(f"quiet, --max-latency-ms {max_latency_ms:g}", False, ahead)]
        cases[3:3] = [(f"one core busy, --max-latency-ms {max_latency_ms:g}", True, ahead)]
    results = []
    out.write(f"model {model}, target {fps:g} fps{f', {size}' if size else ''}, {seconds:g} s each, "
              f"{usable_cores()} cores\n")
    out.write(f"{'case':>44} {'frames':>7} {'fps':>6} {'interval sd ms':>15} {'worst gap ms':>13} {'threads':>8}"
              f" {'OSC msgs/s':>10} {'CPU %':>6} {'batch':>5}\n")
    with tempfile.TemporaryDirectory() as tmp:
        for n, (label, contended, extra) in enumerate(cases):
            # the baseline: OpenMP as torch leaves it, spinning (GNU OpenMP's defaults, given explicitly)
            env = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "300000"} if "--threads" in extra else None
            served = Served(model, Path(tmp) / f"case{n}", "--fps", str(fps), *(("--size", size) if size else ()),
                            *extra, name="paced", env=env)
            contender = None
            if contended == "flood":
                contender = subprocess.Popen([sys.executable, "-c", FLOODER, *map(str, served.osc), str(FLOOD_RATE)])
            elif contended:
                contender = subprocess.Popen([sys.executable, "-c", CONTENDER])
            try:
                served.settled()
                time.sleep(2.0)  # the server settles (and the tuner measures) before the timing starts
                received, began = served.status().get("osc_received", 0), time.monotonic()
                cpu = _cpu_seconds(served.proc.pid)
                end = time.monotonic() + seconds
                stamps = [frame.timestamp for frame in new_frames(served.shm, lambda: time.monotonic() >= end)]
                used, wall = _cpu_seconds(served.proc.pid), time.monotonic() - began
                status = served.status()
                threads = status.get("threads")
                handled = (status.get("osc_received", 0) - received) / (time.monotonic() - began)
            finally:
                if contender is not None:
                    contender.kill()
                    contender.wait()
                served.stop()
            gaps = [b - a for a, b in zip(stamps, stamps[1:])]
            result = PacedResult(label, len(stamps), (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0,
                                 1e3 * statistics.pstdev(gaps) if gaps else 0.0, 1e3 * max(gaps, default=0.0),
                                 threads, handled, None if cpu is None or used is None else 100 * (used - cpu) / wall,
                                 status.get("lookahead", 0), status.get("batch", 1))
            results.append(result)
            out.write(f"{label:>44} {result.frames:>7} {result.fps:>6.1f} {result.interval_std_ms:>15.2f} "
                      f"{result.worst_gap_ms:>13.1f} {str(threads):>8} {handled:>10.0f} "
                      f"{'-' if result.cpu_percent is None else format(result.cpu_percent, '.1f'):>6} "
                      f"{result.batch:>5}\n")
            out.flush()
    return results


# ---- the loop a user would otherwise write ------------------------------------------------------------------

BASELINE = r'''
"""A straightforward single-loop server, as a user would write one: python-osc's threading server for
control, the model's eager forward pass per frame, PIL for the conversion, a shared-memory block for the
frame. It renders N frames as fast as it can and prints the seconds they took."""
import sys, time, threading
from multiprocessing import shared_memory
import numpy as np, torch
from PIL import Image
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from latentvj.models.registry import load

model, frames = load(sys.argv[1]), int(sys.argv[2])
state = {"speed": 1.0}
dispatcher = Dispatcher()
dispatcher.map("/speed", lambda address, value: state.update(speed=value))
server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
threading.Thread(target=server.serve_forever, daemon=True).start()
side = model.resolution
block = shared_memory.SharedMemory(create=True, size=side * side * 3)
z, step = torch.randn(1, model.latent_dim), torch.randn(1, model.latent_dim) * 0.01
times = []
for i in range(frames + 5):
    start = time.perf_counter()
    with torch.no_grad():
        image = model.render(z + step * i * state["speed"])[0]
    pixels = ((image.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy().astype(np.uint8)
    picture = Image.fromarray(pixels[:, :, :3]).convert("RGB")
    block.buf[:side * side * 3] = picture.tobytes()
    times.append(time.perf_counter() - start)
server.shutdown()
block.close()
block.unlink()
print(" ".join(f"{t:.6f}" for t in times[5:]))
'''


def baseline_at(model: LoadedModel, name: str, resolution: int, frames: int) -> float:
    """``baseline_ms`` of the model at ``resolution``: the model itself at its own, else the same
    architecture there (random weights, as the bench's other figures at that size), from a file of its own."""
    if resolution == model.resolution:
        return baseline_ms(name, frames)
    import tempfile

    from latentvj.models.checkpoint import save_model

    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(Path(tmp) / f"baseline-{resolution}.safetensors",
                          at_resolution(model, resolution).network, metadata={"random_init": True})
        return baseline_ms(str(path), frames)


def baseline_ms(model: str, frames: int) -> float:
    """Median ms per frame of :data:`BASELINE` on ``model``, in a process of its own (torch's own threads)."""
    run = subprocess.run([sys.executable, "-c", BASELINE, model, str(frames)], capture_output=True, text=True,
                         timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"the baseline loop failed:\n{run.stderr[-2000:]}")
    return 1e3 * statistics.median(float(t) for t in run.stdout.split())


# ---- control latency ----------------------------------------------------------------------------------------

def control_latency(seconds: float, *, model: str, fps: float = 30.0, max_latency_ms: float = 0.0,
                    out: TextIO) -> dict:
    """From an OSC message sent to the first frame in shared memory that shows it, on a real server at
    ``fps`` (with the lookahead ``--max-latency-ms`` when given): ``/lvj/output/fade`` toggled between 0
    (black) and 1 every few frames (smoothing 0), each frame's brightness read with the writer's own
    timestamp. Returns p50/p99 in ms and in frame periods."""
    import socket
    import tempfile

    import numpy as np

    from latentvj.plugin.shmring import ShmFrameReader

    from .control.osc import build_message
    from .fuzz import Served

    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        served = Served(model, Path(tmp), "--fps", str(fps), *_lookahead_args(max_latency_ms), name="latency")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            served.settled()
            sock.sendto(build_message("/lvj/smoothing", 0.0), served.osc)
            with ShmFrameReader(served.shm) as reader:
                end, fade, last = time.monotonic() + seconds, 1.0, 0
                while time.monotonic() < end:
                    fade = 0.0 if fade else 1.0
                    sent = time.time()
                    sock.sendto(build_message("/lvj/output/fade", fade), served.osc)
                    deadline = time.monotonic() + 2.0
                    while time.monotonic() < deadline:
                        frame = reader.read()
                        if frame is not None and frame.number != last:
                            last = frame.number
                            dark = float(np.asarray(frame.pixels, dtype=np.float32).mean()) < 1.0
                            if dark == (fade == 0.0) and frame.timestamp >= sent:
                                latencies.append(frame.timestamp - sent)
                                break
                        time.sleep(0.002)
                    time.sleep(3.5 / fps)  # a few frames of the new look before the next change
        finally:
            sock.close()
            served.stop()
    if not latencies:
        raise RuntimeError("no frame ever showed a change")
    ms = sorted(1e3 * x for x in latencies)
    period = 1e3 / fps
    figures = {"changes": len(ms), "p50_ms": _quantile(ms, 0.5), "p99_ms": _quantile(ms, 0.99),
               "max_ms": ms[-1], "frame_period_ms": period, "max_latency_ms": max_latency_ms}
    figures["p50_frames"], figures["p99_frames"] = figures["p50_ms"] / period, figures["p99_ms"] / period
    out.write(f"model {model} at {fps:g} fps{f', --max-latency-ms {max_latency_ms:g}' if max_latency_ms else ''}: "
              f"{len(ms)} changes; OSC sent -> first frame showing it: "
              f"p50 {figures['p50_ms']:.1f} ms ({figures['p50_frames']:.2f} frames), "
              f"p99 {figures['p99_ms']:.1f} ms ({figures['p99_frames']:.2f} frames), max {ms[-1]:.1f} ms\n")
    return figures


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


# ---- memory over a long run ---------------------------------------------------------------------------------

def soak(seconds: float, *, model: str, fps: float = 30.0, out: TextIO) -> dict:
    """A real server at ``fps`` for ``seconds`` with a controller moving a fader ten times a second:
    its resident memory sampled every second, growth measured from the end of the first tenth (allocators
    and caches warm) to the end."""
    import socket
    import tempfile

    from .control.osc import build_message
    from .fuzz import Served, _proc_status

    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        served = Served(model, Path(tmp), "--fps", str(fps), name="soak")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            served.settled()
            start = time.monotonic()
            frames_before = served.status()["frame"]
            i = 0
            while (now := time.monotonic()) - start < seconds:
                sock.sendto(build_message("/lvj/walk/speed", 0.5 + (i % 20) / 20), served.osc)
                if i % 10 == 0:
                    samples.append((now - start, _proc_status(served.proc.pid)[0]))
                i += 1
                time.sleep(0.1)
            frames = served.status()["frame"] - frames_before
        finally:
            sock.close()
            served.stop()
    warm = next((kb for t, kb in samples if t >= seconds / 10), samples[-1][1])
    end = samples[-1][1]
    figures = {"seconds": seconds, "frames": frames, "rss_start_kb": samples[0][1], "rss_warm_kb": warm,
               "rss_end_kb": end, "growth": (end - warm) / warm if warm else 0.0}
    out.write(f"model {model} at {fps:g} fps for {seconds:g} s ({frames} frames): resident memory "
              f"{samples[0][1] / 1024:.0f} MB at start, {warm / 1024:.0f} MB after the first tenth, "
              f"{end / 1024:.0f} MB at the end: growth {figures['growth']:+.2%}\n")
    return figures


MODEL_COPIES = 3
"""Files the model-load bench goes round: one more than the renderer keeps resident, so that every load
after the first few lets one go."""


def model_loads(count: int, *, model: str, out: TextIO) -> dict:
    """A real server at 30 fps loading a model anew ``count`` times (``/lvj/model/load``, going round
    MODEL_COPIES copies of it, each waited for until it plays and has compiled): its resident memory after
    each load and the growth per load once models are being let go (from load MODEL_COPIES on), which is
    what a show that keeps loading new models carries; and, from its frames in shared memory (the writer's
    timestamps), how the output held while each load and its compile ran: frames more than 50 ms apart and
    the worst gap."""
    import tempfile

    from latentvj.models.checkpoint import save_model

    from .control.osc import build_message
    from .fuzz import Served, _proc_status

    if count <= MODEL_COPIES:
        raise RuntimeError(f"--loads must be more than {MODEL_COPIES} (the first loads fill the resident models)")
    source = load(model)
    rss, seconds, stalls, worst = [], [], [], []
    stamps: list[float] = []
    reading = threading.Event()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "models"
        folder.mkdir()
        names = [f"load{k}" for k in range(MODEL_COPIES)]
        for name in names:
            save_model(folder / f"{name}.safetensors", source.network, metadata={**source.metadata, "name": name})
        served = Served(model, Path(tmp), "--models", str(folder), "--fps", "30", name="loads")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        def read() -> None:
            for frame in new_frames(served.shm, reading.is_set):
                stamps.append(frame.timestamp)

        reader = threading.Thread(target=read, daemon=True)
        try:
            served.settled()
            reader.start()
            for i in range(count):
                name = names[i % MODEL_COPIES]
                started, sent = time.monotonic(), time.time()
                sock.sendto(build_message("/lvj/model/load", name), served.osc)
                deadline = started + 600
                while (status := served.status())["model"] != name or status["compiled"] == "compiling":
                    if time.monotonic() > deadline or served.proc.poll() is not None:
                        raise RuntimeError(f"model {name} was not playing compiled after 10 minutes (status "
                                           f"{status['model']}, {status['compiled']}); see {served.log_path}")
                    time.sleep(0.2)
                seconds.append(time.monotonic() - started)
                rss.append(_proc_status(served.proc.pid)[0])
                during = [t for t in stamps if t >= sent]
                gaps = [b - a for a, b in zip(during, during[1:])]
                stalls.append(sum(1 for gap in gaps if gap > 0.05))
                worst.append(1e3 * max(gaps, default=0.0))
                out.write(f"load {i + 1:3d}: {name} playing ({status['compiled']}) after {seconds[-1]:5.1f} s, "
                          f"{len(during)} frames, {stalls[-1]} over 50 ms apart, worst gap {worst[-1]:5.0f} ms, "
                          f"resident memory {rss[-1] / 1024:.0f} MB\n")
        finally:
            reading.set()
            sock.close()
            served.stop()
    # the slope of a straight line through the loads from MODEL_COPIES on: the allocator's ups and downs
    # (tens of MB from one load to the next) average out, where the last minus the first would not
    steady = rss[MODEL_COPIES - 1:]
    per_load = statistics.linear_regression(range(len(steady)), steady).slope
    figures = {"loads": count, "rss_kb": rss, "seconds": seconds, "per_load_kb": per_load,
               "frames_over_50ms": stalls, "worst_gap_ms": worst}
    out.write(f"model {model} loaded {count} times: resident memory {steady[0] / 1024:.0f} MB at load "
              f"{MODEL_COPIES}, {steady[-1] / 1024:.0f} MB at load {count}; {per_load / 1024:+.1f} MB a load "
              f"(least squares over loads {MODEL_COPIES}-{count}); while loading and compiling, "
              f"{statistics.median(stalls):g} frames over 50 ms apart a load (median), worst gap "
              f"{max(worst):.0f} ms\n")
    return figures
