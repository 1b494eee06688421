"""Fixtures shared by the whole suite: tiny models (CPU, milliseconds per frame), free names."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latentvj.models.checkpoint import load_model, save_model
from latentvj.models.gan import GANConfig, Generator
from latentvj.models.vae import VAE, VAEConfig

# tests/processes.py (child processes for the end-to-end tests) imports as `processes` in every test module.
sys.path.insert(0, str(Path(__file__).parent))
# Servers the tests start play their models uncompiled: compiling takes tens of seconds of CPU per model, and
# the test of compiling (tests/bridge/test_renderer.py) asks for it.
os.environ.setdefault("LATENTVJ_COMPILE", "off")

# Small, fixed thread count: the suite must behave the same on a 2-core CI machine and a laptop.
torch.set_num_threads(2)

_names = itertools.count()


@pytest.fixture
def shm_name() -> str:
    """A shared-memory name no other test (or earlier run) uses; short enough for macOS."""
    return f"lvjt{os.getpid()}x{next(_names)}"


@torch.no_grad()
def calibrate_batchnorm(generator: Generator, *, rng: torch.Generator, batches: int, batch_size: int) -> None:
    """Set the batch norms' running statistics to their average over random-z batches."""
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, generator.latent_dim, generator=rng))
    generator.eval()


def _tiny_gan() -> Generator:
    torch.manual_seed(0)
    generator = Generator(GANConfig(resolution=32, latent_dim=16, ngf=8, ndf=8))
    # Batch-norm statistics fitted to random latents, so that an untrained network still draws images
    # with contrast that change with z.
    calibrate_batchnorm(generator, rng=torch.Generator().manual_seed(0), batches=4, batch_size=16)
    return generator.eval()


@pytest.fixture(scope="session")
def tiny_gan_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(path, _tiny_gan(), metadata={"name": "tiny", "random_init": True, "data": "none", "licence": "MIT"})
    return str(path)


@pytest.fixture(scope="session")
def tiny_vae_path(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tinyvae.safetensors"
    save_model(path, VAE(VAEConfig(resolution=32, latent_dim=16, base=8)).eval(), metadata={"name": "tinyvae"})
    return str(path)


@pytest.fixture
def tiny_model(tiny_gan_path):
    """A fresh LoadedModel each test (engines move it to their device/dtype in place)."""
    return load_model(tiny_gan_path)


@pytest.fixture(autouse=True, scope="session")
def _private_config_dir(tmp_path_factory):
    """Presets and model folders of the tests live in a temporary folder, never in the user's own
    config (servers started as subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("config")
    old = os.environ.get("LATENTVJ_CONFIG")
    os.environ["LATENTVJ_CONFIG"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("LATENTVJ_CONFIG", None)
    else:
        os.environ["LATENTVJ_CONFIG"] = old


@pytest.fixture
def jack(tmp_path, monkeypatch):
    """A JACK server of this test's own (dummy driver, no realtime), named so it meets no other: MIDI and
    audio between processes on a machine with no sound card and no MIDI hardware."""
    from processes import ChildProcess

    if shutil.which("jackd") is None:
        pytest.skip("`jackd` is not on PATH: install the Debian package jackd2 (apt-get install jackd2; "
                    ".ci/run does)")
    pytest.importorskip("rtmidi", reason="the midi extra is not installed: pip install 'latentvj[midi]'")
    name = f"lvj{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    server = ChildProcess(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"])
    try:
        wait = subprocess.run(["jack_wait", "-w", "-t", "30"], capture_output=True, text=True, timeout=40)
        assert wait.returncode == 0, f"jackd did not start: {wait.stdout}{wait.stderr}{''.join(server.output)}"
        yield name
    finally:
        server.stop()
