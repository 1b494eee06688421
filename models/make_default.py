"""Make the bundled default model, models/bundled/default.safetensors, reproducibly.

It is a 64 px DCGAN generator (latent 128, ngf 64: the architecture the benchmark figures refer
to), RANDOMLY INITIALISED: a placeholder until trained models are bundled. Stored in float16
(about 7.6 MB; loading gives float32).

So that an untrained network still shows something rather than grey mush or pixel noise:
1. every upsampling kernel is a bilinear-interpolation kernel times a random channel-mixing
   matrix (instead of independent random taps, which give checkerboard noise), so the random
   4x4 map made from z is upsampled into smooth coloured shapes;
2. the weights are rounded to float16, so what is stored is what is calibrated next;
3. batch-norm running statistics are calibrated by running the generator in train mode on a few
   seeded batches of random z (cumulative average, no gradients), so eval mode sees normalised
   activations;
4. the output layer is made blind to the mean of its input features (so no colour channel sits
   dark or bright on average) and scaled so the pre-tanh values have a standard deviation of
   OUTPUT_STD, which spreads the images over the whole [-1, 1] range.

Run:  python -m latentvj.models.make_default [PATH]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

from .checkpoint import save_model
from .gan import GANConfig, Generator

DEFAULT_PATH = Path(__file__).parent / "bundled" / "default.safetensors"
SEED = 20261122
CALIBRATION_BATCHES = 8
CALIBRATION_BATCH_SIZE = 64
OUTPUT_STD = 1.5  # std of the pre-tanh output; about 68% of pixels beyond |tanh(1.5 * 0.5)|
STORAGE_DTYPE = torch.float16
METADATA = {
    "name": "default",
    "description": (
        "Untrained placeholder: a randomly initialised 64 px DCGAN generator (bilinear "
        "upsampling kernels with random channel mixing, calibrated batch-norm statistics). It "
        "shows smooth abstract colour shapes, not learned imagery; use a trained model for that."
    ),
    "data": "none (random initialisation)",
    "licence": "MIT",
    "random_init": True,
    "seed": SEED,
    "created": "2026-11-22T00:00:00+00:00",  # fixed, so the file is byte-for-byte reproducible
}


def _round_to_storage(module: nn.Module) -> None:
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(STORAGE_DTYPE).float())


@torch.no_grad()
def calibrate_batchnorm(
    generator: Generator, *, rng: torch.Generator, batches: int, batch_size: int
) -> None:
    """Set each batch norm's running statistics to their average over `batches` random-z batches.

    rng: where the random z come from; batches, batch_size: how many z, in what groups."""
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: equal weight per batch
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, generator.latent_dim, generator=rng))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()


def bilinear_kernel() -> torch.Tensor:
    """The 4x4 kernel with which ConvTranspose2d(4, stride 2, padding 1) upsamples bilinearly."""
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    return taps[:, None] * taps[None, :]


@torch.no_grad()
def smooth_init_(conv: nn.ConvTranspose2d, *, rng: torch.Generator) -> None:
    """Weights = random channel mixing (variance 1 / in_channels) x bilinear upsampling kernel."""
    in_channels, out_channels = conv.weight.shape[:2]
    mixing = torch.randn(in_channels, out_channels, generator=rng) / in_channels**0.5
    conv.weight.copy_(mixing[:, :, None, None] * bilinear_kernel())


@torch.no_grad()
def build_default_generator() -> Generator:
    """The default generator, deterministic for a given PyTorch version."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        generator = Generator(GANConfig(resolution=64, latent_dim=128, ngf=64))
    rng = torch.Generator().manual_seed(SEED)
    for block in generator.blocks:
        smooth_init_(block.conv, rng=rng)
    smooth_init_(generator.to_image, rng=rng)
    _round_to_storage(generator)
    calibrate_batchnorm(
        generator, rng=rng, batches=CALIBRATION_BATCHES, batch_size=CALIBRATION_BATCH_SIZE
    )

    # centre each colour channel, then scale so the pre-tanh image has std OUTPUT_STD
    z = torch.randn(CALIBRATION_BATCH_SIZE, generator.latent_dim, generator=rng)
    features = generator.blocks(generator.stem(z[:, :, None, None]))
    weight = generator.to_image.weight  # [in_channels, out_channels, 4, 4]
    mean = features.mean(dim=(0, 2, 3))  # post-ReLU features have a positive mean ...
    along_mean = torch.einsum("i,iokl->okl", mean, weight) / mean.square().sum()
    weight.sub_(mean[:, None, None, None] * along_mean)  # ... which no longer reaches the image
    std = generator.to_image(features).std().item()
    weight.mul_(OUTPUT_STD / std)
    _round_to_storage(generator)
    return generator


def make_default(path: str | os.PathLike = DEFAULT_PATH) -> Path:
    """Write the default model file to `path` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, build_default_generator(), metadata=dict(METADATA), dtype=STORAGE_DTYPE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=DEFAULT_PATH, help="where to write the file"
    )
    args = parser.parse_args(argv)
    print(make_default(args.path))


if __name__ == "__main__":
    main()
