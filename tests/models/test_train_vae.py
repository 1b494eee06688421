"""Training a tiny VAE for a few steps: it learns, exports encoder and decoder, resumes exactly."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.checkpoint import load_model
from latentvj.models.data import load_images
from latentvj.models.encode import encode_image
from latentvj.models.training import state_path
from latentvj.models.train_vae import VAETrainConfig, train_vae


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    """32 images of one coloured square on black."""
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
    assert [info["step"] for info in log] == list(range(1, 61))
    loss = [info["loss"] for info in log]
    assert np.mean(loss[-10:]) < 0.6 * np.mean(loss[:10]), (loss[:10], loss[-10:])
    assert log[0]["beta"] < log[-1]["beta"] == 1.0, "the KL weight warms up"
    assert all(info["images_per_s"] > 0 for info in log)

    model = load_model(out)
    meta = model.metadata
    assert model.kind == "vae" and meta["steps"] == 60 and meta["device"] == "cpu"
    assert meta["data"] == "squares" and meta["licence"] == "CC0" and meta["command"] == "latentvj train vae ..."
    assert meta["final_losses"]["recon"] == pytest.approx(log[-1]["recon"], rel=1e-4)
    assert meta["train_seconds"] >= 0 and "VAE" in meta["architecture"]
    # walks go through the training set's encodings (32 images, 2 per latent dimension: enough to fit them)
    assert model.config.prior == "fitted" and "prior fitted to the training set's encodings" in meta["architecture"]
    with torch.no_grad():
        encodings = model.network.encode(squares.images.float() / 127.5 - 1)[0]
    assert torch.allclose(model.network.prior_mean, encodings.mean(dim=0), atol=1e-4)
    samples, interp = Image.open(tmp_path / "sq.samples.png"), Image.open(tmp_path / "sq.interp.png")
    assert samples.size == (8 * 32, 8 * 32) and interp.size == (10 * 32, 32)
    assert np.asarray(samples).std() > 0, "the sample grid is not blank"

    # The encoder came along: training images encode to latents that decode nearer to them than to others.
    x = squares.batch(torch.arange(8))
    mu = torch.from_numpy(np.stack([encode_image(model, image) for image in x]))
    with torch.no_grad():
        error = (model.render(mu) - x).pow(2).mean().item()
        other = (model.render(mu.roll(1, 0)) - x).pow(2).mean().item()
    assert error < other


def test_with_too_few_images_per_latent_dimension_the_prior_stays_normal(squares, tmp_path):
    model = load_model(train_vae(squares, tmp_path / "wide.safetensors", tiny(steps=2, latent_dim=17)))
    assert model.config.prior == "normal" and "prior N(0, I)" in model.metadata["architecture"]


def test_the_same_seed_trains_the_same_model(squares, tmp_path):
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        log = []
        train_vae(squares, tmp_path / f"{name}.safetensors", tiny(steps=8, seed=seed), progress=log.append)
        runs.append([(info["recon"], info["kl"]) for info in log])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_training_leaves_the_global_random_state_alone(squares, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_vae(squares, tmp_path / "g.safetensors", tiny(steps=2))
    assert torch.equal(torch.rand(3), expected)


def test_resume_continues_exactly_and_stop_saves(squares, tmp_path):
    straight_log, resumed_log = [], []
    straight = train_vae(squares, tmp_path / "a.safetensors", tiny(steps=12), progress=straight_log.append)
    stop = threading.Event()

    def stop_at_6(info):
        resumed_log.append(info)
        if info["step"] == 6:
            stop.set()

    first = train_vae(squares, tmp_path / "b.safetensors", tiny(steps=12), stop=stop, progress=stop_at_6,
                      card={"command": "latentvj train vae x"})
    assert len(resumed_log) == 6, "the step in progress finishes, no further step starts"
    meta = load_model(first).metadata
    assert meta["steps"] == 6 and "stopped at step 6" in meta["command"]
    assert state_path(first).exists() and (tmp_path / "b.samples.png").exists()

    resumed = train_vae(squares, tmp_path / "b.safetensors", tiny(steps=12), resume=True,
                        progress=resumed_log.append)
    assert [i["loss"] for i in resumed_log] == [i["loss"] for i in straight_log]
    a, b = load_model(straight).network.state_dict(), load_model(resumed).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_model(resumed).metadata["steps"] == 12

    with pytest.raises(ValueError, match="other settings"):
        train_vae(squares, tmp_path / "b.safetensors", tiny(steps=14, base=16), resume=True)
    with pytest.raises(ValueError, match="nothing to resume"):
        train_vae(squares, tmp_path / "none.safetensors", tiny(), resume=True)


def test_wrong_image_size_is_refused(squares, tmp_path):
    with pytest.raises(ValueError, match="config.size"):
        train_vae(squares, tmp_path / "x.safetensors", tiny(size=64))
