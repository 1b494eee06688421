"""The quality figures: KID separates like from unlike, walk smoothness catches jumps."""

import numpy as np
import torch

from latentvj.models.evaluate import embed, evaluate, kid, random_twin, smoothness, walk_frames


def blobs(n, seed, *, hue=(1.0, 0.5, 0.2), blur=False):
    """Images of soft coloured blobs on black, [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * 20 + 6
    radius = torch.rand(n, 1, 1, generator=g) * 4 + 4
    d = ((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2).sqrt()
    mask = (radius - d).clamp(0, 1) if not blur else torch.exp(-(d / radius) ** 2)
    colour = torch.tensor(hue)[None, :, None, None]
    return mask[:, None] * colour * 2 - 1


def test_kid_is_near_zero_for_one_distribution_and_large_for_others():
    a, b = embed(blobs(200, 1)), embed(blobs(200, 2))
    same, _ = kid(a, b)
    noise, _ = kid(a, embed(torch.rand(200, 3, 32, 32) * 2 - 1))
    recoloured, _ = kid(a, embed(blobs(200, 3, hue=(0.2, 0.5, 1.0))))
    blurred, _ = kid(a, embed(blobs(200, 4, blur=True)))
    assert abs(same) < 0.1 * min(noise, recoloured, blurred)
    assert noise > 0 and recoloured > 0 and blurred > 0


def test_embedding_is_fixed_and_size_independent():
    x = blobs(4, 5)
    assert torch.equal(embed(x), embed(x))
    big = torch.nn.functional.interpolate(x, size=64, mode="bilinear", align_corners=False)
    assert torch.allclose(embed(x), embed(big), atol=0.15)


def test_walk_smoothness_is_small_for_a_walk_and_large_for_a_cut(tiny_model):
    frames = walk_frames(tiny_model, seconds=4, fps=30)
    smooth = smoothness(frames)
    assert 1.0 <= smooth < 5.0
    cut = torch.cat([frames[:60], walk_frames(tiny_model, seconds=2, fps=30, seed=99)])
    assert smoothness(cut) > 2 * smooth


def test_evaluate_and_the_random_twin(tiny_model):
    data = ((blobs(64, 6) + 1) * 127.5).to(torch.uint8)
    result = evaluate(tiny_model, data, samples=64)
    assert np.isfinite(result.kid) and result.samples == 64 and result.data_images == 64
    twin = random_twin(tiny_model)
    assert twin.kind == tiny_model.kind and twin.metadata["random_init"] is True
    z = torch.randn(4, tiny_model.latent_dim)
    with torch.no_grad():
        assert not torch.allclose(twin.render(z), tiny_model.render(z)), "untrained, unlike the model"
