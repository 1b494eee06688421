"""Training a tiny GAN for a few steps on a tiny generated dataset: it learns, exports, resumes exactly."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.augment import diff_augment
from latentvj.models.checkpoint import load_model
from latentvj.models.data import load_images
from latentvj.models.train_gan import GANTrainConfig, train_gan
from latentvj.models.training import state_path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """48 images of one coloured disc on black, in nested folders: something a GAN can learn fast."""
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for i in range(48):
        folder = root / f"set{i % 3}"
        folder.mkdir(exist_ok=True)
        yy, xx = np.mgrid[:32, :32]
        cx, cy, r = rng.integers(10, 22), rng.integers(10, 22), rng.integers(5, 9)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
        pixels = np.zeros((32, 32, 3), np.uint8)
        pixels[disc] = rng.integers(80, 255, 3)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return load_images(root, size=32)


def tiny(**overrides):
    values = dict(size=32, latent_dim=16, ngf=8, ndf=8, steps=80, batch=16, lr=2e-3, sample_every=40,
                  checkpoint_every=40, seed=3)
    values.update(overrides)
    return GANTrainConfig(**values)


def test_training_learns_and_writes_a_playable_model_with_a_card(shapes, tmp_path):
    losses = []
    out = train_gan(shapes, tmp_path / "discs.safetensors", tiny(), progress=losses.append,
                    card={"data": "generated discs", "licence": "CC0", "command": "latentvj train gan ..."})
    assert [info["step"] for info in losses] == list(range(1, 81))
    model = load_model(out)
    assert model.kind == "gan" and model.resolution == 32 and model.latent_dim == 16
    meta = model.metadata
    assert meta["steps"] == 80 and meta["data"] == "generated discs" and meta["licence"] == "CC0"
    assert meta["device"] == "cpu" and meta["random_init"] is False and "DiffAugment" in meta["architecture"]
    assert (tmp_path / "discs.samples.png").exists() and (tmp_path / "discs.interp.png").exists()
    # It learnt something about the data: generated images are mostly black like the data, unlike the
    # untrained generator's grey output.
    with torch.no_grad():
        images = model.render(torch.randn(64, 16, generator=torch.Generator().manual_seed(0)))
    dark = (images < -0.8).float().mean().item()
    assert dark > 0.3, f"only {dark:.0%} of pixels dark"


def test_the_same_seed_gives_the_same_model_and_resume_continues_exactly(shapes, tmp_path):
    straight = train_gan(shapes, tmp_path / "a.safetensors", tiny(steps=20))
    stop = threading.Event()
    halves = []

    def stop_at_10(info):
        halves.append(info["step"])
        if info["step"] == 10:
            stop.set()  # as Ctrl-C does: finish the step, save, export

    first = train_gan(shapes, tmp_path / "b.safetensors", tiny(steps=20), progress=stop_at_10, stop=stop)
    assert halves == list(range(1, 11)) and state_path(first).exists()
    assert load_model(first).metadata["steps"] == 10
    resumed = train_gan(shapes, tmp_path / "b.safetensors", tiny(steps=20), resume=True)
    a, b = load_model(straight).network.state_dict(), load_model(resumed).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "10 + 10 resumed steps equal 20 straight ones"


def test_resume_refuses_other_settings_or_nothing_to_resume(shapes, tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train_gan(shapes, tmp_path / "c.safetensors", tiny(steps=2), resume=True)
    train_gan(shapes, tmp_path / "c.safetensors", tiny(steps=2))
    with pytest.raises(ValueError, match="other settings"):
        train_gan(shapes, tmp_path / "c.safetensors", tiny(steps=4, ngf=16), resume=True)


def test_diff_augment_is_differentiable_and_seeded():
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_()
    a = diff_augment(x, torch.Generator().manual_seed(1))
    b = diff_augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
