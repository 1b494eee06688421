"""Training a tiny VAE for a few steps: it learns, exports encoder and decoder, resumes exactly."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.checkpoint import load_model
from latentvj.models.data import load_images
from latentvj.models.train_gan import state_path
from latentvj.models.train_vae import VAETrainConfig, train_vae


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    root = tmp_path_factory.mktemp("squares")
    rng = np.random.default_rng(1)
    for i in range(32):
        pixels = np.zeros((32, 32, 3), np.uint8)
        x, y = rng.integers(0, 20, 2)
        pixels[y:y + 12, x:x + 12] = rng.integers(60, 255, 3)
        Image.fromarray(pixels).save(root / f"{i}.png")
    return load_images(root, size=32)


def tiny(**overrides):
    values = dict(size=32, latent_dim=16, base=8, steps=60, batch=16, lr=3e-3, warmup=20, sample_every=30,
                  checkpoint_every=30, seed=2)
    values.update(overrides)
    return VAETrainConfig(**values)


def test_training_lowers_the_loss_and_exports_encoder_and_decoder(squares, tmp_path):
    log = []
    out = train_vae(squares, tmp_path / "sq.safetensors", tiny(), progress=log.append,
                    card={"data": "squares", "licence": "CC0", "command": "latentvj train vae ..."})
    recon = [info["recon"] for info in log]
    assert np.mean(recon[-10:]) < 0.6 * np.mean(recon[:10]), (recon[:10], recon[-10:])
    assert log[0]["beta"] < log[-1]["beta"] == 1.0, "the KL weight warms up"
    model = load_model(out)
    assert model.kind == "vae" and model.metadata["steps"] == 60 and model.metadata["data"] == "squares"
    assert (tmp_path / "sq.samples.png").exists() and (tmp_path / "sq.interp.png").exists()
    # The encoder came along: a training image encodes to a latent that decodes near it.
    x = squares.batch(torch.arange(8))
    with torch.no_grad():
        mu, _ = model.network.encode(x)
        error = (model.render(mu) - x).pow(2).mean().item()
        other = (model.render(mu.roll(1, 0)) - x).pow(2).mean().item()
    assert error < other


def test_resume_continues_exactly_and_stop_saves(squares, tmp_path):
    straight = train_vae(squares, tmp_path / "a.safetensors", tiny(steps=12))
    stop = threading.Event()
    first = train_vae(squares, tmp_path / "b.safetensors", tiny(steps=12), stop=stop,
                      progress=lambda info: info["step"] == 6 and stop.set())
    assert load_model(first).metadata["steps"] == 6 and state_path(first).exists()
    resumed = train_vae(squares, tmp_path / "b.safetensors", tiny(steps=12), resume=True)
    a, b = load_model(straight).network.state_dict(), load_model(resumed).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="other settings"):
        train_vae(squares, tmp_path / "b.safetensors", tiny(steps=14, base=16), resume=True)
