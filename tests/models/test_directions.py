"""Direction knobs: GANSpace principal directions are unit latent vectors, reproducible for a seed,
found without touching the network, and they move the picture more than random directions do."""

import time

import numpy as np
import pytest
import torch

from latentvj.models.checkpoint import LoadedModel, load_model
from latentvj.models.directions import Directions, first_stage, principal_directions
from latentvj.models.registry import load

LATENT = 16  # the tiny fixtures' latent size (tests/conftest.py)


@pytest.fixture(params=["gan", "vae"])
def tiny(request, tiny_gan_path, tiny_vae_path) -> LoadedModel:
    """A freshly loaded tiny GAN or VAE (tests may change its weights)."""
    return load_model(tiny_gan_path if request.param == "gan" else tiny_vae_path)


def change(model: LoadedModel, z: torch.Tensor, step: torch.Tensor) -> tuple[float, float]:
    """Mean size of the change of the first-stage activations and of the image when z moves by step."""
    with torch.inference_mode():
        activations = (first_stage(model, z + step) - first_stage(model, z)).norm(dim=1).mean()
        images = (model.render(z + step) - model.render(z)).flatten(1).norm(dim=1).mean()
    return float(activations), float(images)


def random_units(count: int, dim: int, seed: int) -> torch.Tensor:
    v = torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))
    return v / v.norm(dim=1, keepdim=True)


# ---- what the engine relies on ------------------------------------------------------------------

def test_unit_float32_directions_strongest_first(tiny):
    d = principal_directions(tiny)
    assert isinstance(d, Directions)
    assert d.vectors.shape == (8, LATENT) and d.vectors.dtype == np.float32
    assert d.explained.shape == (8,) and d.explained.dtype == np.float32
    assert d.count == 8
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(d.explained > 0) and d.explained.sum() <= 1.0
    assert np.all(np.diff(d.explained) <= 0), "strongest first"


def test_count_samples_and_seed_choose_what_is_computed(tiny):
    d = principal_directions(tiny, count=3, samples=200, seed=5)
    assert d.vectors.shape == (3, LATENT)
    assert principal_directions(tiny, count=LATENT).vectors.shape == (LATENT, LATENT)


def test_same_seed_same_directions_other_seed_other_sample(tiny):
    a = principal_directions(tiny, seed=3)
    b = principal_directions(tiny, seed=3)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.explained, b.explained)
    c = principal_directions(tiny, seed=4)
    assert not np.array_equal(a.vectors, c.vectors)


def test_the_network_is_left_as_it_was(tiny):
    before = {k: v.clone() for k, v in tiny.network.state_dict().items()}
    principal_directions(tiny, samples=300)
    after = tiny.network.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"{key} changed"
    assert not tiny.network.training
    assert not any(p.requires_grad for p in tiny.network.parameters())


def test_works_on_a_network_moved_to_lower_precision(tiny):
    tiny.network.to(torch.bfloat16)  # what an engine does in place on a device that wants it
    d = principal_directions(tiny, samples=256)
    assert d.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-5)


# ---- they mean something --------------------------------------------------------------------------

def test_direction_one_moves_features_and_image_more_than_random_directions(tiny):
    d = principal_directions(tiny)
    z = torch.randn(256, LATENT, generator=torch.Generator().manual_seed(99))  # not the PCA's latents
    first = change(tiny, z, torch.from_numpy(d.vectors[0]))
    randoms = np.array([change(tiny, z, v) for v in random_units(32, LATENT, seed=7)])
    # A random unit direction moves things by randoms.mean(0) on average; direction 1 clearly more.
    assert first[0] > 1.05 * randoms[:, 0].mean(), (first, randoms.mean(0))
    assert first[1] > 1.05 * randoms[:, 1].mean(), (first, randoms.mean(0))
    top3 = np.mean([change(tiny, z, torch.from_numpy(v))[0] for v in d.vectors[:3]])
    assert top3 > randoms[:, 0].mean()


def test_a_latent_axis_the_network_stretches_is_found_whatever_the_seed(tiny_model):
    axis = 5
    with torch.no_grad():  # make the first layer respond 4x as strongly to z[axis]
        tiny_model.network.stem[0].weight[axis] *= 4
    for seed in (0, 1, 2):
        d = principal_directions(tiny_model, seed=seed)
        assert abs(d.vectors[0, axis]) > 0.9, (seed, d.vectors[0])
        assert d.vectors[0, axis] > 0, "fixed sign: the largest entry is positive"
        assert d.explained[0] > 2 * d.explained[1]


# ---- bad arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [0, -1, LATENT + 1, 2.0, True, "8", None])
def test_count_outside_1_to_latent_size_is_refused(tiny_model, count):
    with pytest.raises(ValueError, match="count"):
        principal_directions(tiny_model, count=count)


@pytest.mark.parametrize("samples", [0, 8, 1.5e3, 10**6])
def test_too_few_or_too_many_samples_are_refused(tiny_model, samples):
    with pytest.raises(ValueError, match="samples"):
        principal_directions(tiny_model, count=8, samples=samples)


@pytest.mark.parametrize("seed", [-1, 2**63, 0.5])
def test_bad_seed_is_refused(tiny_model, seed):
    with pytest.raises(ValueError, match="seed"):
        principal_directions(tiny_model, seed=seed)


def test_a_bare_network_is_refused(tiny_model):
    with pytest.raises(TypeError, match="LoadedModel"):
        principal_directions(tiny_model.network)


def test_a_network_in_training_mode_is_refused_and_not_touched(tiny_model):
    tiny_model.network.train()
    before = tiny_model.network.stem[1].running_mean.clone()
    with pytest.raises(ValueError, match="eval"):
        principal_directions(tiny_model)
    assert torch.equal(tiny_model.network.stem[1].running_mean, before)


def test_a_network_that_ignores_z_gives_an_error_not_noise(tiny_model):
    with torch.no_grad():  # the first layer no longer sees z: every latent draws the same picture
        tiny_model.network.stem[0].weight.zero_()
    with pytest.raises(ValueError, match="fewer than 8 directions"):
        principal_directions(tiny_model)


# ---- the bundled default model ------------------------------------------------------------------

@pytest.mark.slow
def test_default_model_directions_in_well_under_a_second():
    model = load("emoji-gan")
    timings = []
    for _ in range(3):  # best of three: the machine may be busy with other work
        start = time.perf_counter()
        d = principal_directions(model)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 1.0, timings
    assert d.vectors.shape == (8, model.latent_dim)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-5)
    # The first direction of the trained default model moves its first layer more than random ones.
    z = torch.randn(128, model.latent_dim, generator=torch.Generator().manual_seed(99))
    first = change(model, z, torch.from_numpy(d.vectors[0]))[0]
    randoms = [change(model, z, v)[0] for v in random_units(8, model.latent_dim, seed=7)]
    assert first > np.mean(randoms), (first, randoms)
