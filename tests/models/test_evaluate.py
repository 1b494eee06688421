"""The quality figures: KID is unbiased, near 0 for one distribution and clearly positive against noise,
other colours and blur; walk smoothness is modest for a drift walk and large for one with a cut."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latentvj.models.checkpoint import load_model
from latentvj.models.evaluate import (FEATURE_GROUPS, FEATURES, SEAM_LIMIT, WALKS, boundary_jumps,
                                      boundary_ratio, embed, embed_uint8, evaluate, feature_distance, kid,
                                      random_twin, render_frames, seams, smoothness, walk_latents, walk_smoothness,
                                      worst_seam)
from latentvj.models.walks import Walker

PALETTE = torch.tensor([[1.0, 0.8, 0.2], [0.9, 0.3, 0.2], [0.3, 0.6, 1.0], [0.2, 0.8, 0.4]])


def shapes(n, seed, *, size=32):
    """A toy data set, [-1, 1]: one or two hard-edged discs or squares per image, palette colours with a
    little jitter, on black (like emoji)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size + 0.5), torch.arange(size + 0.5), indexing="ij")
    yy, xx = yy[:size, :size], xx[:size, :size]
    images = torch.zeros(n, 3, size, size)
    for _ in range(2):
        centre = torch.rand(n, 2, 1, 1, generator=g) * size * 0.6 + size * 0.2
        radius = torch.rand(n, 1, 1, generator=g) * size * 0.15 + size * 0.1
        dx, dy = (xx - centre[:, 0]).abs(), (yy - centre[:, 1]).abs()
        square = torch.rand(n, 1, 1, generator=g) < 0.5
        inside = torch.where(square, torch.maximum(dx, dy), (dx**2 + dy**2).sqrt()) < radius
        colour = PALETTE[torch.randint(len(PALETTE), (n,), generator=g)] + 0.1 * torch.randn(n, 3, generator=g)
        present = (torch.rand(n, 1, 1, generator=g) < 0.7) | (images.abs().sum(dim=(1, 2, 3)) == 0)[:, None, None]
        mask = (inside & present)[:, None]
        images = torch.where(mask, colour.clamp(0, 1)[:, :, None, None].expand_as(images), images)
    return images * 2 - 1


def blur(images, sigma=1.5):
    radius = 4
    t = torch.arange(-radius, radius + 1.0)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(images, (radius,) * 4, mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


@pytest.fixture(scope="module")
def toy():
    """Embeddings of two independent halves of the toy data, and of altered copies of the second half."""
    b = shapes(300, 2)
    altered = {
        "noise": torch.rand(300, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1,
        "recoloured": b[:, [2, 0, 1]],  # same shapes, channels rotated: other colours
        "blurred": blur(b),  # same shapes and colours, soft edges
    }
    return embed(shapes(300, 1)), embed(b), {name: embed(x) for name, x in altered.items()}


# ---- KID, the estimator -----------------------------------------------------------------------------

def test_kid_is_unbiased_for_samples_of_one_distribution():
    values = []
    for seed in range(30):
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(200, 16, generator=g), torch.randn(200, 16, generator=g)
        values.append(kid(a, b, subsets=1, seed=seed)[0])
    values = np.array(values)
    assert abs(values.mean()) < 3 * values.std() / math.sqrt(len(values)), "unbiased: averages 0"
    assert (values < 0).any() and (values > 0).any(), "an unbiased estimate of 0 is sometimes negative"
    g = torch.Generator().manual_seed(99)
    shifted, _ = kid(torch.randn(200, 16, generator=g), torch.randn(200, 16, generator=g) + 0.5)
    assert shifted > 20 * values.std()


def test_kid_subsets_give_a_spread_and_bad_shapes_are_refused():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=g), torch.randn(100, 8, generator=g) + 1
    mean, std = kid(a, b, subsets=5, subset_size=50)
    assert mean > 0 and 0 < std < mean
    assert kid(a, b, subsets=5, subset_size=50) == (mean, std), "deterministic for a seed"
    with pytest.raises(ValueError, match="feature sets"):
        kid(a, b[:, :4])
    with pytest.raises(ValueError, match="subset_size"):
        kid(a, b, subset_size=101)


# ---- the embedding ----------------------------------------------------------------------------------

def test_kid_on_the_embedding_is_near_zero_within_a_data_set_and_clearly_positive_otherwise(toy):
    a, b, altered = toy
    same, _, _ = feature_distance(a, b)
    others = {name: feature_distance(a, features)[0] for name, features in altered.items()}
    assert all(value > 20 * abs(same) for value in others.values()), (same, others)
    assert abs(same) < 0.05, same


def test_each_feature_group_sees_its_kind_of_difference(toy):
    a, b, altered = toy
    same = feature_distance(a, b)[2]
    recoloured = feature_distance(a, altered["recoloured"])[2]
    blurred = feature_distance(a, altered["blurred"])[2]
    assert recoloured["colour"] > 10 * abs(same["colour"]) + 0.05
    assert blurred["edges"] > 10 * abs(same["edges"]) + 0.05
    assert blurred["edges"] > blurred["colour"], "blur changes edges more than the palette"
    assert recoloured["colour"] > recoloured["edges"], "recolouring changes the palette more than edges"


def test_embedding_is_fixed_and_compares_resolutions():
    x = shapes(40, 5)
    features = embed(x)
    assert features.shape == (40, FEATURES) and features.dtype == torch.float32
    assert torch.equal(features, embed(x.clone())), "deterministic"
    assert sum(c.stop - c.start for c in FEATURE_GROUPS.values()) == FEATURES
    # The same pictures drawn at 64 px embed close to their 32 px versions, relative to how images differ.
    big = F.interpolate(x, size=64, mode="nearest")
    spread = features.std(0).clamp_min(1e-3)
    assert ((embed(big) - features).abs() / spread).median() < 0.3
    # Grey images are taken as three equal channels; uint8 images via embed_uint8.
    assert torch.allclose(embed(x[:, :1]), embed(x[:, :1].expand(-1, 3, -1, -1)))
    assert torch.allclose(embed_uint8(((x + 1) * 127.5).round().to(torch.uint8)), features, atol=0.05)
    with pytest.raises(ValueError, match="float images"):
        embed(((x + 1) * 127.5).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        embed(x[0])


# ---- walk smoothness --------------------------------------------------------------------------------

def test_a_drift_walk_is_smooth_and_a_cut_is_not(tiny_model):
    smooth = walk_smoothness(tiny_model, seconds=4, fps=30)
    assert math.isfinite(smooth) and 1.0 < smooth < 5.0
    # The same walk, with a cut: 2 s of one seed's walk, then 2 s of another's.
    first = Walker(tiny_model.latent_dim, seed=0, mode="drift")
    second = Walker(tiny_model.latent_dim, seed=7, mode="drift")
    z = [first.at(i / 30) for i in range(60)] + [second.at(i / 30) for i in range(60, 120)]
    frames = render_frames(tiny_model, torch.from_numpy(np.stack(z)).float())
    assert smoothness(frames) > 3 * smooth
    # walk_latents is that walker's path.
    assert np.allclose(walk_latents(tiny_model.latent_dim, seconds=2, fps=30).numpy(), np.stack(z[:60]))


def test_smoothness_of_frames_that_never_change_is_infinite():
    assert smoothness(torch.zeros(10, 3, 4, 4)) == float("inf")
    with pytest.raises(ValueError, match="at least 3 frames"):
        smoothness(torch.zeros(2, 3, 4, 4))


def test_a_line_drawn_at_the_same_row_of_every_frame_is_a_seam_and_moving_content_is_not():
    rng = torch.Generator().manual_seed(0)
    frames = torch.randn(40, 3, 32, 32, generator=rng).mul(0.1)  # noise: every boundary alike
    ratio, where = seams(frames)
    assert ratio < SEAM_LIMIT
    seamed = frames.clone()
    seamed[:, :, 21:] += 0.5  # everything below row 20 brighter, in every frame: a jump across 20/21
    ratio, where = seams(seamed.clamp(-1, 1))
    assert ratio > SEAM_LIMIT and where == "row 20/21"
    ratio, where = seams(seamed.transpose(2, 3).clamp(-1, 1))
    assert ratio > SEAM_LIMIT and where == "column 20/21"
    assert boundary_ratio(seamed.transpose(2, 3).clamp(-1, 1), "column 20/21") == pytest.approx(ratio)
    assert boundary_ratio(frames, "column 20/21") < SEAM_LIMIT, "the same place in frames without the line"
    with pytest.raises(ValueError, match="at least 3 px"):
        seams(torch.zeros(4, 3, 2, 2))
    with pytest.raises(ValueError, match="32 rows"):
        boundary_ratio(frames, "row 31/32")


# ---- the whole figure, and the baseline -------------------------------------------------------------

def test_evaluate_reports_kid_per_group_and_smoothness(tiny_model):
    data = ((shapes(64, 6) + 1) * 127.5).round().to(torch.uint8)
    result = evaluate(tiny_model, data, samples=48)
    assert result.samples == 48 and result.data_images == 64
    assert math.isfinite(result.kid) and result.kid_std >= 0 and result.kid > 0, "an untrained model is far off"
    assert set(result.kid_parts) == set(FEATURE_GROUPS)
    assert 1.0 < result.smoothness < 5.0 and result.walk_step > 0
    assert result.seam_ratio > 1 and result.seam_at.startswith(("row ", "column "))
    # both look along eight walks: the smoothness is the median walk's, the seam each boundary's mean jump
    walks = [render_frames(tiny_model, walk_latents(tiny_model.latent_dim, seed=k)) for k in range(WALKS)]
    assert result.smoothness == pytest.approx(float(np.median([smoothness(frames) for frames in walks])))
    assert result.smoothness != pytest.approx(smoothness(walks[0])), "not the first walk's alone"
    ratio, where = worst_seam(tuple(torch.stack(along).mean(dim=0)
                                    for along in zip(*(boundary_jumps(frames) for frames in walks))))
    assert result.seam_at == where and result.seam_ratio == pytest.approx(ratio)
    assert (result.seam_ratio, result.seam_at) != seams(walks[0]), "not the first walk's alone"
    data_float = data.float() / 127.5 - 1
    assert result.data_seam == pytest.approx(boundary_ratio(data_float, result.seam_at)), \
        "the data's own ratio at the walk's worst boundary"
    again = evaluate(tiny_model, data, samples=48, real_features=embed_uint8(data))
    assert again == result, "deterministic, and precomputed data features give the same figures"
    with pytest.raises(ValueError, match="uint8"):
        evaluate(tiny_model, data.float(), samples=48)


@pytest.mark.parametrize("path", ["tiny_gan_path", "tiny_vae_path"])
def test_random_twin_is_the_same_architecture_untrained(path, request):
    model = load_model(request.getfixturevalue(path))
    twin = random_twin(model, seed=3)
    assert twin.kind == model.kind and twin.config == model.config
    assert twin.metadata["random_init"] is True and "random twin" in twin.name
    assert type(twin.network) is type(model.network) and not twin.network.training
    assert all(not p.requires_grad for p in twin.network.parameters())
    z = torch.randn(8, model.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = twin.render(z)
        assert torch.equal(images, random_twin(model, seed=3).render(z)), "deterministic for a seed"
        assert not torch.allclose(images, random_twin(model, seed=4).render(z))
        assert not torch.allclose(images, model.render(z))
        assert images.std(0).mean() > 1e-3, "draws images that change with z, not one flat field"
    assert set(twin.network.state_dict()) == set(model.network.state_dict())
