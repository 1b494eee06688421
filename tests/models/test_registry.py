"""Finding models by bundled name or path, and the bundled default model itself."""

import shutil

import pytest
import torch
from safetensors import safe_open

from latentvj.models import registry
from latentvj.models.checkpoint import CheckpointError, save_model
from latentvj.models.gan import GANConfig, Generator
from latentvj.models.make_default import make_default


@pytest.fixture(scope="module")
def default():
    return registry.load(registry.DEFAULT_MODEL)


def test_default_resolves_to_the_bundled_file():
    path = registry.resolve_model("default")
    assert path == registry.BUNDLED_DIR / "default.safetensors"
    assert path.is_file()
    assert path.stat().st_size <= 8 * 1024 * 1024  # small enough to ship in the package


def test_default_renders_64px_images_with_contrast(default):
    assert default.kind == "gan" and default.resolution == 64 and default.latent_dim == 128
    assert default.metadata["random_init"] is True
    z = torch.randn(8, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = default.render(z)
    assert images.shape == (8, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0.4  # not grey mush: uses the range
    assert images.amin() < -0.9 and images.amax() > 0.9
    assert (images[0] - images[1]).abs().mean() > 0.2  # different z, different picture
    # smooth structure, not pixel noise: neighbouring pixels are much closer than random pairs
    neighbour = (images[..., 1:] - images[..., :-1]).abs().mean()
    assert neighbour < 0.5 * (images[0] - images[1]).abs().mean()


def test_default_moves_smoothly_with_z(default):
    z = torch.randn(1, 128, generator=torch.Generator().manual_seed(1))
    step = 0.01 * torch.randn(1, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        change = (default.render(z + step) - default.render(z)).abs().mean()
    assert change < 0.05


def test_list_models_shows_the_default_as_a_random_init_placeholder():
    infos = {info.name: info for info in registry.list_models()}
    info = infos["default"]
    assert info.bundled and info.error is None
    assert info.path == registry.BUNDLED_DIR / "default.safetensors"
    meta = info.metadata
    assert meta["random_init"] is True
    assert meta["resolution"] == 64 and meta["latent_dim"] == 128 and meta["kind"] == "gan"
    assert meta["licence"] == "MIT" and meta["data"] == "none (random initialisation)"
    assert "untrained" in meta["description"].lower()


def test_list_models_adds_extra_folders_and_reports_broken_files(tmp_path):
    tiny = Generator(GANConfig(resolution=32, latent_dim=8, ngf=4))
    save_model(tmp_path / "mine.safetensors", tiny, metadata={"data": "x"})
    (tmp_path / "broken.safetensors").write_bytes(b"\x80\x04junk")
    (tmp_path / "notes.txt").write_text("not a model")
    infos = registry.list_models([tmp_path])
    extra = {i.name: i for i in infos if not i.bundled}
    assert set(extra) == {"mine", "broken"}
    assert extra["mine"].metadata["resolution"] == 32 and extra["mine"].error is None
    assert extra["broken"].metadata == {} and "pickle" in extra["broken"].error
    with pytest.raises(CheckpointError, match="does not exist"):
        registry.list_models([tmp_path / "absent"])


def test_unknown_name_lists_the_bundled_models():
    expected = r"unknown model 'nope'; bundled models: .*default.*; or give a path to a .safetensors file"
    with pytest.raises(CheckpointError, match=expected):
        registry.resolve_model("nope")


def test_a_path_works(tmp_path):
    path = save_model(tmp_path / "mine.safetensors", Generator(GANConfig(resolution=32, latent_dim=8, ngf=4)))
    assert registry.resolve_model(str(path)) == path
    assert registry.resolve_model(path) == path
    loaded = registry.load(str(path))
    assert loaded.resolution == 32 and loaded.path == path
    with pytest.raises(CheckpointError, match="no model file at"):
        registry.resolve_model(str(tmp_path / "absent.safetensors"))
    with pytest.raises(CheckpointError, match="is not a file"):
        registry.resolve_model(str(tmp_path))


def test_a_bundled_name_wins_over_a_file_of_that_name_in_the_working_directory(tmp_path, monkeypatch):
    shutil.copy(registry.resolve_model("default"), tmp_path / "default")
    monkeypatch.chdir(tmp_path)
    assert registry.resolve_model("default") == registry.BUNDLED_DIR / "default.safetensors"


@pytest.mark.slow
def test_make_default_reproduces_the_bundled_file(tmp_path):
    made = make_default(tmp_path / "default.safetensors")
    bundled = registry.resolve_model("default")
    with safe_open(str(made), framework="pt") as a, safe_open(str(bundled), framework="pt") as b:
        assert a.metadata() == b.metadata()
        assert set(a.keys()) == set(b.keys())
        for key in a.keys():
            torch.testing.assert_close(a.get_tensor(key), b.get_tensor(key), atol=1e-3, rtol=1e-3)


def test_models_asked_for_over_the_network_stay_inside_the_model_folders(tmp_path, tiny_gan_path):
    import shutil

    from latentvj.models.registry import BUNDLED_DIR, model_names, resolve_confined

    folder = tmp_path / "models"
    (folder / "sets").mkdir(parents=True)
    shutil.copy(tiny_gan_path, folder / "sets" / "mine.safetensors")
    outside = tmp_path / "outside.safetensors"
    shutil.copy(tiny_gan_path, outside)
    assert resolve_confined("default", [folder]) == BUNDLED_DIR / "default.safetensors"
    assert resolve_confined("sets/mine", [folder]) == (folder / "sets" / "mine.safetensors").resolve()
    assert resolve_confined("sets/mine.safetensors", [folder]).name == "mine.safetensors"
    for bad in (str(outside), "../outside", "sets/../../outside.safetensors"):
        with pytest.raises(CheckpointError):
            resolve_confined(bad, [folder])
    (folder / "link.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="unknown model"):
        resolve_confined("link", [folder])
    assert model_names([folder, tmp_path / "missing"]) == ["default", "sets/mine.safetensors"]
