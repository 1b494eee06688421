"""Training a GAN on a folder of images: the small-data recipe.

- Generator: the DCGAN of models/gan.py with resize-convolution upsampling (no checkerboard; `upsample`).
  Discriminator: spectrally normalised convolutions, hinge loss.
- DiffAugment (colour, translation, cutout) on everything the discriminator sees, so a few hundred to a
  few thousand images suffice without the discriminator memorising them.
- An exponential moving average (EMA) of the generator's weights is what gets exported: smoother and
  better than the raw generator at any step.
- Deterministic for a seed on CPU: every random number comes from one seeded torch.Generator, whose state
  is saved with the training state, so a resumed run continues exactly where it stopped.

The training state (networks, optimisers, step, random state) is a torch.save file of tensors and plain
values, read back with torch.load(weights_only=True): nothing in it can run code.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .augment import diff_augment
from .checkpoint import save_model
from .data import ImageSet
from .gan import Discriminator, GANConfig, Generator
from .training import STATE_VERSION, load_state, save_state, state_path, write_samples

@dataclass
class GANTrainConfig:
    size: int = 64
    """Image side in pixels (power of two, 32..512)."""
    latent_dim: int = 128
    ngf: int = 64
    """Generator width (see GANConfig)."""
    ndf: int = 64
    """Discriminator width."""
    upsample: str = "resize"
    """How the generator doubles the side: "resize" (nearest x2 + 3x3 conv) or "transposed" (DCGAN's)."""
    padding: str = "zeros"
    """What the generator's resize convolutions see beyond the edge: "zeros" or "reflect" (see GANConfig)."""
    steps: int = 5000
    """Total optimisation steps (one discriminator and one generator update each)."""
    batch: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.999
    """Decay of the generator's moving average (warmed up over the first steps)."""
    augment: bool = True
    """DiffAugment on the discriminator's inputs."""
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        self.gan_config()
        for name in ("steps", "batch", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")

    def gan_config(self) -> GANConfig:
        return GANConfig(resolution=self.size, latent_dim=self.latent_dim, ngf=self.ngf, ndf=self.ndf,
                         upsample=self.upsample, padding=self.padding)


def train_gan(
    images: ImageSet,
    out: str | os.PathLike,
    config: GANTrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    card: dict | None = None,
) -> Path:
    """Train (or, with ``resume``, go on training) and export the EMA generator to ``out`` (.safetensors).

    images: the training set (models.data.load_images); its size must match config.size.
    progress: called after every step with step, losses and images/s (the CLI draws its bar with it).
    stop: set it (Ctrl-C) to finish the current step, save everything and return early.
    card: metadata for the model file (data, licence, command line, ...); steps, time, device are added.
    """
    out = Path(out)
    if images.images.shape[-1] != config.size:
        raise ValueError(f"images are {images.images.shape[-1]} px, config.size is {config.size}")
    device = torch.device(config.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    gen_config = config.gan_config()

    torch.manual_seed(config.seed)  # network initialisation only; training draws from `rng`
    generator, discriminator = Generator(gen_config).to(device), Discriminator(gen_config).to(device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=config.betas)
    rng = torch.Generator().manual_seed(config.seed)
    step, seconds = 0, 0.0
    if resume:
        state = load_state(state_path(out), _config_dict(config))
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        rng.set_state(state["rng"])
        step, seconds = int(state["step"]), float(state["seconds"])

    def save() -> None:
        save_state(state_path(out), {
            "version": STATE_VERSION, "config": _config_dict(config), "step": step, "seconds": seconds,
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "ema": ema.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": rng.get_state(),
        })

    def export() -> Path:
        write_samples(ema, out, seed=config.seed)
        metadata = dict(card or {})
        if step != config.steps and "command" in metadata:  # stopped early (Ctrl-C)
            metadata["command"] += f"  # stopped at step {step}: --steps {step} reproduces this model"
        metadata.update(
            kind="gan", architecture=f"DCGAN generator (ngf {config.ngf}, {config.upsample} upsampling"
                                      f"{'' if config.padding == 'zeros' else ', ' + config.padding + ' padding'}), "
                                      f"spectral-norm discriminator "
                                      f"(ndf {config.ndf}), hinge loss, DiffAugment, EMA {config.ema}",
            steps=step, train_seconds=round(seconds, 1), device=str(device), batch=config.batch,
            images=len(images.images), seed=config.seed, random_init=False,
        )
        return save_model(out, _on_cpu(ema), metadata=metadata)

    generator.train()
    discriminator.train()
    while step < config.steps and not (stop is not None and stop.is_set()):
        started = time.perf_counter()
        index = torch.randint(0, len(images.images), (config.batch,), generator=rng)
        flip = torch.rand(config.batch, generator=rng) < 0.5
        real = images.batch(index, flip=flip).to(device)
        z = torch.randn(config.batch, config.latent_dim, generator=rng).to(device)

        def seen(x: torch.Tensor) -> torch.Tensor:
            return discriminator(diff_augment(x, rng) if config.augment else x)

        fake = generator(z)
        loss_d = F.relu(1.0 - seen(real)).mean() + F.relu(1.0 + seen(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = -seen(fake).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        step += 1
        _update_ema(ema, generator, decay=min(config.ema, (1 + step) / (10 + step)))
        elapsed = time.perf_counter() - started
        seconds += elapsed
        if progress is not None:
            progress({"step": step, "steps": config.steps, "loss_d": loss_d.item(), "loss_g": loss_g.item(),
                      "images_per_s": config.batch / elapsed if elapsed > 0 else 0.0})
        if step % config.checkpoint_every == 0 or step == config.steps:
            save()
        if step % config.sample_every == 0:
            write_samples(ema, out, seed=config.seed)
    save()
    return export()


@torch.no_grad()
def _update_ema(ema: Generator, generator: Generator, *, decay: float) -> None:
    for mine, theirs in zip(ema.parameters(), generator.parameters()):
        mine.lerp_(theirs, 1.0 - decay)
    for mine, theirs in zip(ema.buffers(), generator.buffers()):
        mine.copy_(theirs)  # batch-norm statistics follow the generator


def _on_cpu(network: Generator) -> Generator:
    return copy.deepcopy(network).to("cpu", torch.float32).eval()


def _config_dict(config: GANTrainConfig) -> dict:
    """The settings a resumed run must share (it may change device, steps and cadences)."""
    values = dataclasses.asdict(config)
    values["betas"] = list(values["betas"])
    for name in ("device", "steps", "sample_every", "checkpoint_every"):
        values.pop(name)
    return values


