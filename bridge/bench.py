"""`latentvj bench`: the bare forward pass against the whole engine, measured in the same run.

For each resolution it alternates rounds of (a) the model's forward pass alone, z already on the device,
synchronised per frame, and (b) the engine's render loop running flat out (fps 0) into a real
shared-memory ring: control snapshot, walk, forward pass, uint8 conversion, copy to host, ring write,
preview hand-off. Medians over all rounds; the ratio engine fps / forward fps says how much of the model's
speed reaches the consumer. Alternating rounds spreads the noise of a shared machine over both.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import threading
import time
from typing import TextIO

import torch

from latentvj.models.checkpoint import LoadedModel
from latentvj.models.gan import Generator
from latentvj.models.registry import load
from latentvj.models.vae import VAE

from .device import describe, pick_device, pick_dtype
from .engine import Engine, EngineConfig
from .preview import PreviewEncoder
from .shm import ShmFrameWriter


@dataclasses.dataclass
class BenchResult:
    resolution: int
    forward_ms: float
    engine_ms: float

    @property
    def ratio(self) -> float:
        return self.forward_ms / self.engine_ms


def at_resolution(model: LoadedModel, resolution: int) -> LoadedModel:
    """The same architecture at another resolution, randomly initialised (speed does not depend on the
    weights' values)."""
    if resolution == model.resolution:
        return model
    config = dataclasses.replace(model.config, resolution=resolution)
    network = (Generator if model.kind == "gan" else VAE)(config).eval().requires_grad_(False)
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


def bench_one(model: LoadedModel, *, device: str, precision: str, frames: int, rounds: int) -> BenchResult:
    dev = pick_device(device)
    dtype = pick_dtype(dev, precision)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        elif dev.type == "mps":
            torch.mps.synchronize()

    engine = Engine(model, config=EngineConfig(device=device, precision=precision, fps=0))
    ring = ShmFrameWriter(f"lvjbench{os.getpid()}", engine.width, engine.height, channels=engine.channels)
    forward, end_to_end = [], []
    try:
        z = torch.randn(1, model.latent_dim, generator=torch.Generator().manual_seed(0)).to(dev, dtype)
        engine.warm_up()
        with torch.inference_mode():
            for _ in range(3):
                model.render(z)
            sync()
            for _ in range(rounds):
                for _ in range(frames):
                    start = time.perf_counter()
                    model.render(z)
                    sync()
                    forward.append(time.perf_counter() - start)
                stop = threading.Event()
                watch = _Stopwatch(frames, stop)
                engine.sinks = [ring, PreviewEncoder(), watch]
                engine.run(stop)
                end_to_end.extend(b - a for a, b in zip(watch.times, watch.times[1:]))
    finally:
        ring.close()
    return BenchResult(model.resolution, 1e3 * statistics.median(forward), 1e3 * statistics.median(end_to_end))


def run_bench(model_name: str, *, device: str = "auto", precision: str = "auto", sizes: list[int] | None = None,
              frames: int = 120, rounds: int = 5, out: TextIO) -> list[BenchResult]:
    model = load(model_name)
    dev = pick_device(device)
    config = model.config
    width = getattr(config, "ngf", getattr(config, "base", "?"))
    out.write(f"model {model.name}: {model.kind}, latent {model.latent_dim}, width {width}; "
              f"device {describe(dev)} {str(pick_dtype(dev, precision)).removeprefix('torch.')}; "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    out.write(f"{frames} frames x {rounds} rounds, alternating; medians\n")
    out.write(f"{'size':>6} {'forward ms':>11} {'forward fps':>12} {'engine ms':>10} {'engine fps':>11} {'ratio':>6}\n")
    results = []
    for resolution in sizes or [model.resolution]:
        result = bench_one(at_resolution(model, resolution), device=device, precision=precision,
                           frames=frames, rounds=rounds)
        results.append(result)
        out.write(f"{resolution:>6} {result.forward_ms:>11.2f} {1e3 / result.forward_ms:>12.1f} "
                  f"{result.engine_ms:>10.2f} {1e3 / result.engine_ms:>11.1f} {result.ratio:>6.3f}\n")
        out.flush()
    return results
