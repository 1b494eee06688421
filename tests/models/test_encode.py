"""Image -> latent: the VAE's encoder, the GAN's latent optimisation."""

import numpy as np
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
    with torch.no_grad():
        before = (tiny_model.render(torch.from_numpy(start)[None])[0] - image).pow(2).mean()
        after = (tiny_model.render(torch.from_numpy(found)[None])[0] - image).pow(2).mean()
    assert after < 0.5 * before
    assert np.array_equal(found, encode_image(tiny_model, image, steps=80)), "deterministic"


def test_vae_encodes_with_its_encoder(tiny_vae_path, tmp_path):
    model = load_model(tiny_vae_path)
    picture = tmp_path / "pic.png"
    pixels = np.zeros((40, 60, 4), np.uint8)
    pixels[10:30, 20:40] = (255, 128, 0, 255)
    Image.fromarray(pixels).save(picture)
    image = load_image_for(model, picture)
    assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1
    z = encode_image(model, image)
    with torch.no_grad():
        mu, _ = model.network.encode(image[None])
    assert np.allclose(z, mu[0].numpy())
