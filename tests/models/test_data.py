"""Image folders for training: found recursively, read by content, unreadable files skipped and counted."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentvj.models.data import DataError, load_images


def test_formats_nesting_transparency_and_broken_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "one.png")
    Image.fromarray(red).save(tmp_path / "a" / "two.jpg", quality=95)
    Image.fromarray(red).save(tmp_path / "a" / "b" / "three.webp")
    Image.fromarray(red[..., 0]).save(tmp_path / "a" / "grey.bmp")
    clear = np.zeros((20, 20, 4), np.uint8)  # fully transparent: becomes the background colour
    Image.fromarray(clear).save(tmp_path / "a" / "clear.png")
    Image.fromarray(red).save(tmp_path / "named.txt", format="PNG")  # read by content, not by name
    (tmp_path / "notes.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = (tmp_path / "one.png").read_bytes()
    (tmp_path / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / ".hidden.png").write_bytes(good)

    images = load_images(tmp_path, size=8, min_images=1, background=(0, 0, 255))
    names = sorted(p.name for p in images.paths)
    assert names == ["clear.png", "grey.bmp", "named.txt", "one.png", "three.webp", "two.jpg"]
    assert sorted(p.name for p, _ in images.skipped) == ["empty.png", "notes.jpg", "truncated.png"]
    assert images.images.shape == (6, 3, 8, 8) and images.images.dtype == torch.uint8
    clear_image = images.images[[p.name for p in images.paths].index("clear.png")]
    assert clear_image[2].min() == 255 and clear_image[0].max() == 0, "transparency shows the background"


def test_centre_crop_and_batches(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 200  # the centre square is bright, the side bands black
    for i in range(4):
        Image.fromarray(wide).save(tmp_path / f"{i}.png")
    images = load_images(tmp_path, size=10, min_images=4)
    assert images.images.min() > 150, "the side bands were cropped away"
    batch = images.batch(torch.tensor([0, 1]), flip=torch.tensor([True, False]))
    assert batch.dtype == torch.float32 and batch.shape == (2, 3, 10, 10)
    assert -1 <= batch.min() and batch.max() <= 1


def test_flip_mirrors_only_the_flagged_images(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))
    for i in range(2):
        Image.fromarray(ramp).save(tmp_path / f"{i}.png")
    images = load_images(tmp_path, size=16, min_images=2)
    plain = images.batch(torch.tensor([0, 1]))
    flipped = images.batch(torch.tensor([0, 1]), flip=torch.tensor([True, False]))
    assert torch.equal(flipped[0], plain[0].flip(-1)) and torch.equal(flipped[1], plain[1])


def test_too_few_images_and_missing_folders_are_clear_errors(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "only.png")
    with pytest.raises(DataError, match="has 1 readable images .* at least 16"):
        load_images(tmp_path, size=8)
    with pytest.raises(DataError, match="no folder of images"):
        load_images(tmp_path / "absent", size=8)
