"""The model file format: round trips, and refusal of everything that is not a sound model file."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from latentvj.models.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    LoadedModel,
    load_model,
    read_metadata,
    save_model,
)
from latentvj.models.gan import Discriminator, GANConfig, Generator
from latentvj.models.vae import VAE, VAEConfig

TINY_GAN = GANConfig(resolution=32, latent_dim=8, ngf=4, ndf=4)
TINY_VAE = VAEConfig(resolution=32, latent_dim=8, base=4)


def trained_looking(module):
    """Give batch norms non-default running statistics, as training would."""
    with torch.no_grad():
        module.train()
        if isinstance(module, Generator):
            module(torch.randn(4, module.latent_dim))
        else:
            module(torch.rand(4, 3, 32, 32) * 2 - 1, generator=torch.Generator().manual_seed(0))
    return module.eval()


def z(n=3, dim=8):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(7))


def header(path):
    """The 'latentvj' JSON of a model file, read with the plain safetensors API."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["latentvj"]), {k: f.get_tensor(k) for k in f.keys()}


def rewrite(path, info=None, tensors=None):
    """Write a safetensors file with the given latentvj header and tensors."""
    meta = {} if info is None else {"latentvj": info if isinstance(info, str) else json.dumps(info)}
    save_file(tensors or {"x": torch.zeros(1)}, str(path), metadata=meta)
    return path


@pytest.fixture
def gan_file(tmp_path):
    generator = trained_looking(Generator(TINY_GAN))
    metadata = {"data": "squares", "licence": "CC0", "epoch": 3}
    path = save_model(tmp_path / "tiny.safetensors", generator, metadata=metadata)
    return path, generator


# --- round trips ----------------------------------------------------------------------------


def test_gan_round_trip_renders_the_same_images_and_keeps_metadata(gan_file):
    path, generator = gan_file
    loaded = load_model(path)
    assert isinstance(loaded, LoadedModel)
    assert loaded.kind == "gan" and loaded.config == TINY_GAN and loaded.path == path
    assert loaded.latent_dim == 8 and loaded.resolution == 32
    assert not loaded.network.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in loaded.network.parameters())
    with torch.no_grad():
        torch.testing.assert_close(loaded.render(z()), generator(z()), rtol=0, atol=0)
    meta = loaded.metadata
    assert meta["data"] == "squares" and meta["licence"] == "CC0" and meta["epoch"] == 3
    assert meta["name"] == "tiny" and meta["kind"] == "gan"
    assert meta["resolution"] == 32 and meta["latent_dim"] == 8
    assert meta["random_init"] is False and meta["created"]
    assert read_metadata(path) == meta


def test_file_layout_is_the_documented_one(gan_file):
    path, _ = gan_file
    info, tensors = header(path)
    assert info["format_version"] == FORMAT_VERSION == 1
    assert info["kind"] == "gan"
    assert info["config"] == {"resolution": 32, "latent_dim": 8, "ngf": 4, "ndf": 4, "channels": 3,
                              "upsample": "transposed", "padding": "zeros"}
    assert set(info["metadata"]) >= {
        "name", "kind", "resolution", "latent_dim", "data", "licence", "description",
        "random_init", "created",
    }
    assert tensors and all(k.startswith("generator.") for k in tensors)


def test_missing_data_and_licence_default_to_unknown(tmp_path):
    path = save_model(tmp_path / "m.safetensors", Generator(TINY_GAN))
    meta = read_metadata(path)
    assert meta["data"] == "unknown" and meta["licence"] == "unknown"


def test_rendering_does_not_build_a_graph_unless_z_asks_for_one(gan_file):
    loaded = load_model(gan_file[0])
    assert not loaded.render(z()).requires_grad
    latent = z().requires_grad_()
    loaded.render(latent).mean().backward()  # latent optimisation (projection) still works
    assert latent.grad is not None


def test_discriminator_is_stored_but_ignored_for_play(tmp_path):
    generator = trained_looking(Generator(TINY_GAN))
    path = save_model(tmp_path / "d.safetensors", generator, discriminator=Discriminator(TINY_GAN))
    _, tensors = header(path)
    assert any(k.startswith("discriminator.") for k in tensors)
    with torch.no_grad():
        torch.testing.assert_close(load_model(path).render(z()), generator(z()))


def test_discriminator_must_match_the_generator(tmp_path):
    with pytest.raises(ValueError, match="differs from generator config"):
        save_model(
            tmp_path / "d.safetensors",
            Generator(TINY_GAN),
            discriminator=Discriminator(GANConfig(resolution=64, latent_dim=8, ngf=4, ndf=4)),
        )


def test_float16_storage_loads_as_float32(tmp_path):
    generator = trained_looking(Generator(TINY_GAN))
    path = save_model(tmp_path / "half.safetensors", generator, dtype=torch.float16)
    _, tensors = header(path)
    assert tensors["generator.stem.0.weight"].dtype == torch.float16
    loaded = load_model(path)
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    with torch.no_grad():
        torch.testing.assert_close(loaded.render(z()), generator(z()), atol=2e-2, rtol=0)


def test_vae_round_trip_keeps_encoder_and_decoder(tmp_path):
    vae = trained_looking(VAE(TINY_VAE))
    path = save_model(tmp_path / "vae.safetensors", vae, metadata={"data": "noise"})
    _, tensors = header(path)
    assert any(k.startswith("vae.encoder.") for k in tensors)
    assert any(k.startswith("vae.decoder.") for k in tensors)
    loaded = load_model(path)
    assert loaded.kind == "vae" and loaded.config == TINY_VAE
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        mu, logvar = loaded.network.encode(x)  # the encoder came back: live images can be encoded
        torch.testing.assert_close((mu, logvar), vae.encode(x), rtol=0, atol=0)
        torch.testing.assert_close(loaded.render(mu), vae.decode(mu), rtol=0, atol=0)
    assert loaded.render(mu).shape == (2, 3, 32, 32)
    assert read_metadata(path)["kind"] == "vae"


def test_save_refuses_what_it_cannot_describe(tmp_path):
    with pytest.raises(ValueError, match="end in .safetensors"):
        save_model(tmp_path / "m.pt", Generator(TINY_GAN))
    with pytest.raises(TypeError, match="Generator or VAE"):
        save_model(tmp_path / "m.safetensors", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="metadata\\['resolution'\\] is 64"):
        save_model(tmp_path / "m.safetensors", Generator(TINY_GAN), metadata={"resolution": 64})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_model(tmp_path / "m.safetensors", Generator(TINY_GAN), metadata={"when": object()})
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


# --- refusals ---------------------------------------------------------------------------------


class WritesMarker:
    """A pickle payload: unpickling it calls open(marker, "w"), i.e. runs code and creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["model.pkl", "model.safetensors"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, name):
    """Whatever its name, a pickle is read as a network pickle, by a reader that runs nothing."""
    # the payload is real: unpickling it does create its marker
    proof = tmp_path / "proof"
    handle = pickle.loads(pickle.dumps(WritesMarker(proof)))
    handle.close()
    assert proof.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": WritesMarker(marker)}, protocol=4))
    # read by the restricted unpickler of network pickles, which refuses every name it has no need of
    with pytest.raises(CheckpointError, match=rf"{name}: it names io.open, .*refused .*nothing of this file was run"):
        load_model(path)
    with pytest.raises(CheckpointError, match="pickle"):
        read_metadata(path)
    assert not marker.exists()


def test_a_torch_archive_of_a_layout_not_read_is_refused_with_its_keys(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"generator": Generator(TINY_GAN).state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"model.pt: a PyTorch checkpoint, but not one LatentVJ reads: its "
                                              r"state dict \(blocks.0.conv.weight.*\) is neither"):
        load_model(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a valid .safetensors file"),
        (b"hello, I am not a model", "not a valid .safetensors file"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": [1, 2]}   ", "not a valid .safetensors file"),
    ],
)
def test_other_non_safetensors_files_are_refused(tmp_path, content, message):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such model file"):
        load_model(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="not a file"):
        load_model(tmp_path)


def valid_info(**changes):
    info = {
        "format_version": 1,
        "kind": "gan",
        "config": {"resolution": 32, "latent_dim": 8, "ngf": 4, "ndf": 4, "channels": 3},
        "metadata": {"name": "x"},
    }
    info.update(changes)
    return info


@pytest.mark.parametrize(
    "info, message",
    [
        (None, "without LatentVJ metadata"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            valid_info(format_version=2),
            r"made by a newer LatentVJ \(model format version 2; this LatentVJ reads up to version 1\)",
        ),
        (valid_info(format_version="1"), "format_version must be a positive integer"),
        (valid_info(kind="diffusion"), "unknown model kind 'diffusion'"),
        (
            valid_info(config={"resolution": 48, "latent_dim": 8}),
            "invalid GANConfig: GANConfig.resolution must be a power of two",
        ),
        (valid_info(config={"resolution": 32, "depth": 9}), "invalid GANConfig: .*depth"),
        (valid_info(config=[32]), "'config' must be a JSON object"),
        (valid_info(metadata="hi"), "'metadata' must be a JSON object"),
        (valid_info(metadata={"resolution": 64}), r"metadata\['resolution'\] is 64 but the network has resolution 32"),
    ],
)
def test_bad_header_is_refused(tmp_path, gan_file, info, message):
    _, tensors = header(gan_file[0])
    path = rewrite(tmp_path / "bad.safetensors", info, tensors)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)
    with pytest.raises(CheckpointError, match=message):
        read_metadata(path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, gan_file):
    info, tensors = header(gan_file[0])

    missing = dict(tensors)
    del missing["generator.to_image.weight"]
    with pytest.raises(CheckpointError, match=r"missing weights \[generator.to_image.weight\]"):
        load_model(rewrite(tmp_path / "a.safetensors", info, missing))

    extra = dict(tensors, **{"generator.extra.weight": torch.zeros(2), "stray": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"unexpected weights \[.*generator.extra.weight"):
        load_model(rewrite(tmp_path / "b.safetensors", info, extra))

    reshaped = dict(tensors, **{"generator.to_image.weight": torch.zeros(4, 3, 3, 3)})
    with pytest.raises(CheckpointError, match=r"to_image.weight has shape \[4, 3, 3, 3\], expected \[4, 3, 4, 4\]"):
        load_model(rewrite(tmp_path / "c.safetensors", info, reshaped))

    wrong_size = dict(info, config=dict(info["config"], ngf=8))
    with pytest.raises(CheckpointError, match="weights do not match the Generator"):
        load_model(rewrite(tmp_path / "d.safetensors", wrong_size, tensors))

    vae_config = {"resolution": 32, "latent_dim": 8, "base": 4, "channels": 3}
    as_vae = dict(info, kind="vae", config=vae_config, metadata={})
    with pytest.raises(CheckpointError, match="missing weights"):
        load_model(rewrite(tmp_path / "e.safetensors", as_vae, tensors))

    poisoned = dict(tensors, **{"generator.to_image.weight": torch.full((4, 3, 4, 4), float("nan"))})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_model(rewrite(tmp_path / "f.safetensors", info, poisoned))


def test_a_huge_config_in_a_small_file_allocates_nothing(tmp_path, gan_file):
    info, tensors = header(gan_file[0])
    huge = dict(info, config=dict(info["config"], resolution=512, ngf=1_000_000), metadata={})
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_model(rewrite(tmp_path / "huge.safetensors", huge, tensors))


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_a_huge_header_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A file whose first 8 bytes claim a 91 MB header: refused from those bytes, nothing parsed."""
    import latentvj.models.checkpoint as checkpoint

    path = tmp_path / "huge-header.safetensors"
    with path.open("wb") as f:
        f.write((91_000_000).to_bytes(8, "little"))
        f.truncate(91_000_108)  # as long as the header claims (sparse: nothing written)
    opened = []
    monkeypatch.setattr(checkpoint, "safe_open", lambda *a, **k: opened.append(a))
    for read in (load_model, read_metadata):
        with pytest.raises(CheckpointError, match="header claims 91,000,000 bytes"):
            read(path)
    assert opened == [], "safetensors never saw the file"


def test_a_model_card_that_is_a_json_bomb_is_refused(tmp_path, gan_file):
    _, tensors = header(gan_file[0])
    deep = rewrite(tmp_path / "deep.safetensors", "[" * 200_000 + "]" * 200_000, tensors)
    with pytest.raises(CheckpointError, match="characters long"):
        load_model(deep)
    nested = rewrite(tmp_path / "nested.safetensors", "[" * 60_000, tensors)
    with pytest.raises(CheckpointError, match="nested too deep"):
        read_metadata(nested)


def test_each_kind_applies_its_own_latent_knob(gan_file, tmp_path):
    """Truncation (GAN) and temperature (VAE) are the model's business (models/kinds.py), not the engine's."""
    vae = load_model(save_model(tmp_path / "v.safetensors", trained_looking(VAE(TINY_VAE))))
    gan = load_model(gan_file[0])
    for model in (gan, vae):
        with torch.no_grad():
            np_close = torch.allclose(model.render(z(), truncation=0.5), model.render(z() * 0.5), atol=1e-6)
            assert np_close and torch.equal(model.render(z(), truncation=1.0), model.render(z()))


def test_a_file_from_before_a_config_field_existed_keeps_its_id(tmp_path):
    """A model file written before GANConfig had `padding` means zero padding, and keeps the fingerprint
    it had then (presets find their model by it); a reflect-padded model is another model."""
    from latentvj.models.checkpoint import model_fingerprint

    config = GANConfig(resolution=32, latent_dim=8, ngf=4, ndf=4, upsample="resize")
    path = save_model(tmp_path / "resize.safetensors", trained_looking(Generator(config)))
    info, tensors = header(path)
    assert info["config"]["padding"] == "zeros"
    older = dict(info, config={k: v for k, v in info["config"].items() if k != "padding"})
    old = load_model(rewrite(tmp_path / "old.safetensors", older, tensors))
    assert old.config.padding == "zeros"
    assert model_fingerprint(old) == model_fingerprint(load_model(path))
    reflect = dict(info, config=dict(info["config"], padding="reflect"))
    other = load_model(rewrite(tmp_path / "reflect.safetensors", reflect, tensors))
    assert other.network.to_image.padding_mode == "reflect"
    assert model_fingerprint(other) != model_fingerprint(old)
