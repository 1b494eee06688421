"""The bundled models: trained with `latentvj train` on Twemoji, small enough to ship, with cards."""

import pytest
import torch

from latentvj.models import registry
from latentvj.models.encode import encode_image

BUNDLED = ("emoji-gan", "emoji-vae")


@pytest.fixture(scope="module", params=BUNDLED)
def bundled(request):
    return registry.load(request.param)


def test_serve_opens_on_the_trained_gan():
    assert registry.DEFAULT_MODEL == "emoji-gan"
    assert sorted(registry.bundled_names()) == sorted(BUNDLED)


def test_each_is_small_and_carries_its_card(bundled):
    assert bundled.path.stat().st_size <= 25 * 1024 * 1024
    meta = bundled.metadata
    assert meta["random_init"] is False and meta["steps"] > 0 and meta["train_seconds"] > 0
    assert "Twemoji" in meta["data"] and "CC-BY 4.0" in meta["licence"]
    assert meta["command"].startswith(f"make bundled-models (latentvj train {bundled.kind} --data DATA ")
    assert "--seed" in meta["command"] and meta["device"] and meta["architecture"]
    # Issue 9, bug 6: no path of the machine that trained it (the venv, a temporary folder) in the card.
    for text in map(str, meta.values()):
        assert not any(marker in text for marker in ("/tmp", "/work", "/home", "site-packages", ".venv")), text
    assert bundled.resolution == 64 and bundled.latent_dim == 128


def test_each_renders_varied_smooth_images(bundled):
    z = torch.randn(16, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = bundled.render(z)
    assert images.shape == (16, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    assert images.std() > 0.2, "not a grey field"
    between = (images[0::2] - images[1::2]).abs().mean()
    neighbour = (images[..., 1:] - images[..., :-1]).abs().mean()
    assert between > 0.05, "different latents, different pictures"
    assert neighbour < between, "structure, not pixel noise"


def test_the_vae_encodes_its_own_pictures_back():
    vae = registry.load("emoji-vae")
    z = torch.randn(1, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        picture = vae.render(z)[0]
        again = vae.render(torch.from_numpy(encode_image(vae, picture))[None])[0]
    assert (again - picture).abs().mean() < 0.15
