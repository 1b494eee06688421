"""Finding models by bundled name or path, and the bundled default model itself."""

import shutil

import pytest

from latentvj.models import registry
from latentvj.models.checkpoint import CheckpointError, save_model
from latentvj.models.gan import GANConfig, Generator


def test_the_default_resolves_to_a_bundled_file():
    path = registry.resolve_model(registry.DEFAULT_MODEL)
    assert path == registry.BUNDLED_DIR / f"{registry.DEFAULT_MODEL}.safetensors" and path.is_file()


def test_a_name_in_a_model_folder_is_found_after_the_bundled_ones(tmp_path, tiny_gan_path):
    shutil.copy(tiny_gan_path, tmp_path / "mine.safetensors")
    assert registry.resolve_model("mine", [tmp_path]) == tmp_path / "mine.safetensors"
    with pytest.raises(CheckpointError, match="unknown model 'mine'"):
        registry.resolve_model("mine")


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
    expected = r"unknown model 'nope'; bundled models: .*emoji-gan.*; or give a path to a .safetensors file"
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
    shutil.copy(registry.resolve_model("emoji-gan"), tmp_path / "emoji-gan")
    monkeypatch.chdir(tmp_path)
    assert registry.resolve_model("emoji-gan") == registry.BUNDLED_DIR / "emoji-gan.safetensors"


def test_models_asked_for_over_the_network_stay_inside_the_model_folders(tmp_path, tiny_gan_path):
    import shutil

    from latentvj.models.registry import BUNDLED_DIR, model_names, resolve_confined

    folder = tmp_path / "models"
    (folder / "sets").mkdir(parents=True)
    shutil.copy(tiny_gan_path, folder / "sets" / "mine.safetensors")
    outside = tmp_path / "outside.safetensors"
    shutil.copy(tiny_gan_path, outside)
    assert resolve_confined("emoji-gan", [folder]) == BUNDLED_DIR / "emoji-gan.safetensors"
    assert resolve_confined("sets/mine", [folder]) == (folder / "sets" / "mine.safetensors").resolve()
    assert resolve_confined("sets/mine.safetensors", [folder]).name == "mine.safetensors"
    for bad in (str(outside), "../outside", "sets/../../outside.safetensors"):
        with pytest.raises(CheckpointError):
            resolve_confined(bad, [folder])
    (folder / "link.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="unknown model"):
        resolve_confined("link", [folder])
    assert model_names([folder, tmp_path / "missing"]) == [*registry.bundled_names(), "sets/mine.safetensors"]
    # a name no file can have is refused as such (the system would refuse to look: found by the fuzz)
    for long in ("x" * 300, "sets/" + "y" * 250 + ".pkl", "a/" * 600):
        with pytest.raises(CheckpointError, match="too long"):
            resolve_confined(long, [folder])
