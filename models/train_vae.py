"""Training a VAE on a folder of images: reconstruction + KL divergence, the KL weight warmed up from 0.

Loss per step: the mean squared error per pixel plus beta(t) times the KL divergence per latent
dimension, the KL rescaled by latent_dim / (3 * size**2) so that both are sums over one image divided by
its number of pixel values. beta = 1 is then the ELBO of a Gaussian decoder with variance 0.5 (on the
[-1, 1] scale); a smaller beta gives sharper reconstructions and a less regular latent space. beta(t)
rises linearly from 0 over `warmup` steps, so the encoder learns to use the latent before the KL term
pulls it towards the prior.

The whole VAE is exported, encoder included, so images can be encoded to latents (models/encode.py).
Deterministic for a seed on CPU and resumable exactly, like the GAN trainer (models/train_gan.py), whose
training-state and sample-picture helpers it shares.
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

from .checkpoint import save_model
from .data import ImageSet
from .training import STATE_VERSION, load_state, save_state, state_path, write_samples
from .vae import VAE, VAEConfig


FIT_IMAGES_PER_DIM = 2
"""Images per latent dimension below which the exported VAE keeps the N(0, I) prior (a covariance of
latent_dim^2 values needs that much data)."""


@dataclass
class VAETrainConfig:
    size: int = 64
    """Image side in pixels (power of two, 32..512)."""
    latent_dim: int = 128
    base: int = 32
    """Network width (see VAEConfig)."""
    steps: int = 5000
    """Total optimisation steps."""
    batch: int = 64
    lr: float = 1e-3
    """Adam learning rate."""
    beta: float = 1.0
    """Final weight of the KL term (see the module docstring for its scale)."""
    warmup: int = 1000
    """Steps over which the KL weight rises linearly from 0 to beta (0: beta from the start)."""
    seed: int = 0
    """Seeds the initial weights and every random draw of training (batches, flips, sampling noise)."""
    sample_every: int = 500
    """Write the sample grid and interpolation strip every this many steps (and at the end)."""
    checkpoint_every: int = 500
    """Write the resumable training state every this many steps (and at the end)."""
    device: str = "cpu"
    """A torch device: "cpu", "cuda", "mps"; results are only bit-identical run to run on CPU."""

    def __post_init__(self) -> None:
        self.vae_config()  # checks size, latent_dim and base
        for name in ("steps", "batch", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.beta < 0 or self.warmup < 0:
            raise ValueError(f"beta and warmup must not be negative, got beta={self.beta}, warmup={self.warmup}")

    def vae_config(self) -> VAEConfig:
        return VAEConfig(resolution=self.size, latent_dim=self.latent_dim, base=self.base)

    def identity(self) -> dict:
        """The settings a resumed run must share (device, steps and cadences may change)."""
        values = dataclasses.asdict(self)
        for name in ("device", "steps", "sample_every", "checkpoint_every"):
            values.pop(name)
        return values

    def beta_at(self, step: int) -> float:
        """The KL weight used for the update that makes step ``step`` (1-based)."""
        return self.beta * min(1.0, step / self.warmup) if self.warmup else self.beta


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
    """Train (or, with ``resume``, go on training) and export the VAE to ``out`` (.safetensors).

    images: the training set (models.data.load_images); its size must match config.size.
    Next to ``out`` go NAME.train.pt (the resumable state), NAME.samples.png (8x8 decoded fixed latents)
    and NAME.interp.png (a slerp between two fixed latents).
    resume: go on from NAME.train.pt, which must have been made with the same settings (see
        VAETrainConfig.identity); the result is the one an uninterrupted run would have given.
    progress: called after every step with step, steps, loss, recon, kl, beta and images_per_s.
    stop: set it (Ctrl-C) to finish the current step, save everything and return early.
    card: metadata for the model file (data, licence, command line, ...); steps, time, device and the
        final losses are added.
    """
    out = Path(out)
    if images.images.ndim != 4 or images.images.shape[-1] != config.size:
        raise ValueError(f"images must be [N, 3, {config.size}, {config.size}] (config.size), "
                         f"got {list(images.images.shape)}")
    if len(images.images) == 0:
        raise ValueError("no images to train on")
    device = torch.device(config.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, the caller's RNG untouched
        torch.manual_seed(config.seed)
        vae = VAE(config.vae_config())
    vae.to(device)
    optimiser = torch.optim.Adam(vae.parameters(), lr=config.lr)
    rng = torch.Generator().manual_seed(config.seed)  # every random draw of training comes from here
    step, seconds, losses = 0, 0.0, {}
    if resume:
        state = load_state(state_path(out), config.identity())
        vae.load_state_dict(state["vae"])
        optimiser.load_state_dict(state["optimiser"])
        rng.set_state(state["rng"])
        step, seconds, losses = int(state["step"]), float(state["seconds"]), dict(state.get("losses", {}))

    def save() -> None:
        save_state(state_path(out), {
            "version": STATE_VERSION, "config": config.identity(), "step": step, "seconds": seconds,
            "losses": losses, "vae": vae.state_dict(), "optimiser": optimiser.state_dict(),
            "rng": rng.get_state(),
        })

    def samples() -> None:
        write_samples(vae, out, seed=config.seed, decode=vae.sample)

    saved = -1
    vae.train()
    while step < config.steps and not (stop is not None and stop.is_set()):
        started = time.perf_counter()
        index = torch.randint(0, len(images.images), (config.batch,), generator=rng)
        flip = torch.rand(config.batch, generator=rng) < 0.5
        eps = torch.randn(config.batch, config.latent_dim, generator=rng)
        x = images.batch(index, flip=flip).to(device)
        recon, mu, logvar = vae(x, eps=eps.to(device))
        reconstruction = (recon - x).pow(2).mean()
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean()
        beta = config.beta_at(step + 1)
        loss = reconstruction + beta * kl * (config.latent_dim / (3 * config.size ** 2))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        losses = {"loss": loss.item(), "recon": reconstruction.item(), "kl": kl.item()}
        elapsed = time.perf_counter() - started
        seconds += elapsed
        if progress is not None:
            progress({"step": step, "steps": config.steps, **losses, "beta": beta,
                      "images_per_s": config.batch / elapsed if elapsed > 0 else 0.0})
        if step % config.checkpoint_every == 0:
            save()
            saved = step
        if step % config.sample_every == 0:
            samples()

    if saved != step:
        save()
    # Walks go through the Gaussian of the training set's encodings (VAE.fit_prior): points drawn from N(0, I)
    # land between them and decode muddy (the bundled VAE: KID 3.29 -> 1.69, docs/models.md). A covariance
    # needs a few images per latent dimension; with fewer the prior stays N(0, I).
    trained = copy.deepcopy(vae)
    fitted = len(images.images) >= FIT_IMAGES_PER_DIM * config.latent_dim
    if fitted:
        trained.fit_prior(images.images)
    write_samples(trained, out, seed=config.seed, decode=trained.sample)

    metadata = dict(card or {})
    if step != config.steps and "command" in metadata:  # stopped early (Ctrl-C)
        metadata["command"] += f"  # stopped at step {step}: --steps {step} reproduces this model"
    metadata.update(
        kind="vae", architecture=f"convolutional VAE (base {config.base}), MSE + KL with {config.warmup}-step "
                                 f"warm-up to beta {config.beta}; encoder included; "
                                 + ("prior fitted to the training set's encodings" if fitted else
                                    f"prior N(0, I) (fitting one takes {FIT_IMAGES_PER_DIM} images per "
                                    "latent dimension)"),
        steps=step, train_seconds=round(seconds, 1), device=str(device), batch=config.batch, lr=config.lr,
        images=len(images.images), seed=config.seed, random_init=False,
        final_losses={name: round(value, 6) for name, value in losses.items()},
    )
    return save_model(out, trained.to("cpu", torch.float32).eval(), metadata=metadata)
