"""Image -> latent: the VAE's encoder, the GAN's latent optimisation, pictures read as in training."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.checkpoint import load_model
from latentvj.models.encode import encode_image, load_image_for


def test_gan_latent_optimisation_finds_a_point_near_the_picture(tiny_model):
    target_z = torch.randn(1, tiny_model.latent_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        image = tiny_model.render(target_z)[0]
    start = encode_image(tiny_model, image, steps=0)
    found = encode_image(tiny_model, image, steps=80)
    assert found.dtype == np.float32 and found.shape == (tiny_model.latent_dim,)
    with torch.no_grad():
        before = (tiny_model.render(torch.from_numpy(start)[None])[0] - image).pow(2).mean()
        after = (tiny_model.render(torch.from_numpy(found)[None])[0] - image).pow(2).mean()
    assert after < 0.5 * before
    assert np.array_equal(found, encode_image(tiny_model, image, steps=80)), "deterministic for a seed"
    assert not np.array_equal(start, encode_image(tiny_model, image, steps=0, seed=1)), "the seed matters"


def test_a_picture_is_read_as_the_training_data_is(tiny_vae_path, tmp_path):
    model = load_model(tiny_vae_path)
    picture = tmp_path / "pic.png"
    pixels = np.zeros((40, 60, 4), np.uint8)  # transparent, with an opaque orange square in the middle
    pixels[10:30, 20:40] = (255, 128, 0, 255)
    Image.fromarray(pixels).save(picture)
    image = load_image_for(model, picture)
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1
    assert torch.allclose(image[:, 16, 16], torch.tensor([1.0, 128 / 127.5 - 1, -1.0]), atol=0.02)
    assert torch.equal(image[:, 0, 0], torch.tensor([-1.0, -1.0, -1.0])), "transparency on black, cropped square"
    white = load_image_for(model, picture, background=(255, 255, 255))
    assert torch.equal(white[:, 0, 0], torch.tensor([1.0, 1.0, 1.0]))


def test_vae_encodes_with_its_encoder(tiny_vae_path):
    model = load_model(tiny_vae_path)
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    z = encode_image(model, image)
    with torch.no_grad():
        mu, _ = model.network.encode(image[None])
    assert z.dtype == np.float32 and np.allclose(z, mu[0].numpy())
    # a VAE with a fitted prior: the coordinates of that encoding in its prior, which the walk then plays
    model.network.fit_prior(torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    x = encode_image(model, image)
    with torch.no_grad():
        assert torch.allclose(model.network.from_prior(torch.from_numpy(x)[None]), mu, atol=1e-4)
        assert not np.allclose(x, mu[0].numpy(), atol=1e-2)


def test_a_picture_of_the_wrong_size_is_refused(tiny_model):
    with pytest.raises(ValueError, match=r"\[3, 32, 32\]"):
        encode_image(tiny_model, torch.zeros(3, 64, 64))
