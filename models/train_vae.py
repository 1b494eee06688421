"""Training a VAE on a folder of images: reconstruction + KL divergence, the KL weight warmed up from 0.

The whole VAE is exported, encoder included, so images can be encoded to latents (models/encode.py).
Deterministic for a seed on CPU and resumable exactly, like the GAN trainer (models/train_gan.py), whose
training-state and sample-picture helpers it shares.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import save_model
from .data import ImageSet
from .train_gan import STATE_VERSION, load_state, save_state, state_path, write_samples
from .vae import VAE, VAEConfig


@dataclass
class VAETrainConfig:
    size: int = 64
    latent_dim: int = 128
    base: int = 32
    """Network width (see VAEConfig)."""
    steps: int = 5000
    batch: int = 64
    lr: float = 1e-3
    beta: float = 1.0
    """Final weight of the KL term (per latent dimension, against the per-pixel reconstruction error)."""
    warmup: int = 1000
    """Steps over which the KL weight rises linearly from 0 to beta."""
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    device: str = "cpu"

    def __post_init__(self) -> None:
        VAEConfig(resolution=self.size, latent_dim=self.latent_dim, base=self.base)
        for name in ("steps", "batch", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.beta < 0 or self.warmup < 0:
            raise ValueError("beta and warmup must not be negative")

    def identity(self) -> dict:
        """The settings a resumed run must share (device, steps and cadences may change)."""
        values = dataclasses.asdict(self)
        for name in ("device", "steps", "sample_every", "checkpoint_every"):
            values.pop(name)
        return values


def train_vae(
    images: ImageSet,
    out: str | os.PathLike,
    config: VAETrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    card: dict | None = None,
) -> Path:
    """Train (or go on training) and export the VAE to ``out``; arguments as train_gan's."""
    out = Path(out)
    if images.images.shape[-1] != config.size:
        raise ValueError(f"images are {images.images.shape[-1]} px, config.size is {config.size}")
    device = torch.device(config.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)  # initialisation only; training draws from `rng`
    vae = VAE(VAEConfig(resolution=config.size, latent_dim=config.latent_dim, base=config.base)).to(device)
    optimiser = torch.optim.Adam(vae.parameters(), lr=config.lr)
    rng = torch.Generator().manual_seed(config.seed)
    step, seconds = 0, 0.0
    if resume:
        state = load_state(state_path(out), config.identity())
        vae.load_state_dict(state["vae"])
        optimiser.load_state_dict(state["optimiser"])
        rng.set_state(state["rng"])
        step, seconds = int(state["step"]), float(state["seconds"])

    def save() -> None:
        save_state(state_path(out), {
            "version": STATE_VERSION, "config": config.identity(), "step": step, "seconds": seconds,
            "vae": vae.state_dict(), "optimiser": optimiser.state_dict(), "rng": rng.get_state(),
        })

    def samples() -> None:
        write_samples(vae, out, seed=config.seed, decode=vae.decode)

    vae.train()
    while step < config.steps and not (stop is not None and stop.is_set()):
        started = time.perf_counter()
        index = torch.randint(0, len(images.images), (config.batch,), generator=rng)
        flip = torch.rand(config.batch, generator=rng) < 0.5
        x = images.batch(index, flip=flip).to(device)
        eps = torch.randn(config.batch, config.latent_dim, generator=rng).to(device)
        recon, mu, logvar = vae(x, eps=eps)
        # Per-pixel squared error and per-dimension KL, both means: beta 1 then balances them.
        reconstruction = (recon - x).pow(2).mean()
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean()
        beta = config.beta * min(1.0, (step + 1) / config.warmup) if config.warmup else config.beta
        loss = reconstruction + beta * kl * (config.latent_dim / (3 * config.size ** 2))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        elapsed = time.perf_counter() - started
        seconds += elapsed
        if progress is not None:
            progress({"step": step, "steps": config.steps, "loss": loss.item(), "recon": reconstruction.item(),
                      "kl": kl.item(), "beta": beta, "images_per_s": config.batch / elapsed if elapsed else 0.0})
        if step % config.checkpoint_every == 0:
            save()
        if step % config.sample_every == 0:
            samples()
    save()
    samples()
    vae.eval()
    metadata = dict(card or {})
    if step != config.steps and "command" in metadata:
        metadata["command"] += f"  # stopped at step {step}: --steps {step} reproduces this model"
    metadata.update(
        kind="vae", architecture=f"convolutional VAE (base {config.base}), MSE + KL with {config.warmup}-step "
                                 f"warm-up to beta {config.beta}; encoder included",
        steps=step, train_seconds=round(seconds, 1), device=str(device), batch=config.batch,
        images=len(images.images), seed=config.seed, random_init=False,
    )
    cpu = VAE(vae.config)
    cpu.load_state_dict({k: v.detach().cpu().float() for k, v in vae.state_dict().items()})
    return save_model(out, cpu.eval(), metadata=metadata)
