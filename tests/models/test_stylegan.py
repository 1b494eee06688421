"""StyleGAN2 and StyleGAN3 networks from NVIDIA's network pickles render what NVIDIA's own forward pass
renders.

tests/models/data/stylegan_reference.safetensors holds, for tiny configurations of StyleGAN2-ADA, the StyleGAN2
that NVIDIA's StyleGAN3 code writes (class-conditional, resnet), StyleGAN3-T and StyleGAN3-R (RGBA): random
weights, two z, and the images NVIDIA's Generator drew from them (truncation 0.7, the stored noise), with
the class name, init kwargs and module tree (made by data/make_stylegan_reference.py from NVIDIA's code,
none of which is here). Each test writes those weights into a pickle laid out as NVIDIA's training loop
writes one, loads it as a user's file would load (``load_model``), and draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from latentvj.models.checkpoint import CheckpointError, load_model
from latentvj.models.stylegan2 import StyleGAN2, StyleGAN2Config
from latentvj.models.foreign import stylegan_config
from latentvj.models.stylegan3 import StyleGAN3, StyleGAN3Config, kaiser_lowpass
from nvidia_pickles import network, reference, reference_pickle, snapshot, stand_ins

def nvidia_pickle(writer, tmp_path: Path, name: str, **changes) -> tuple[Path, dict, dict]:
    return reference_pickle(writer, tmp_path / "network-snapshot-000400.pkl", name, **changes)


@pytest.fixture
def writer(monkeypatch):
    return stand_ins(monkeypatch)


@pytest.mark.parametrize("name, kind", [("sg2ada", "stylegan2"), ("sg2_by_sg3", "stylegan2"),
                                        ("sg3t", "stylegan3"), ("sg3r", "stylegan3")])
def test_a_network_pickle_draws_what_nvidias_forward_pass_draws(writer, tmp_path, name, kind):
    path, card, tensors = nvidia_pickle(writer, tmp_path, name)
    model = load_model(path)
    assert model.kind == kind
    assert model.metadata["source"]["class_name"] == card["class_name"]
    assert model.metadata["source"]["network"] == "G_ema"
    expected = tensors["images"]
    c = tensors["c"] if tensors["c"].shape[1] else None
    with torch.inference_mode():
        drawn = model.network(tensors["z"], c, truncation_psi=card["psi"])
        if c is None:  # what the renderer calls: the kind's draw with its knob
            assert torch.equal(model.render(tensors["z"], truncation=card["psi"]), drawn)
    assert drawn.shape == expected.shape
    scale = expected.abs().max().item()
    assert scale > 0.1  # a real image, not all zeros
    assert (expected[0] - expected[1]).abs().max().item() > 0.05 * scale, "z moves the image: the mapping counts"
    assert (drawn - expected).abs().max().item() <= 1e-5 * max(1.0, scale)
    # one image at a time (the renderer's case, a different code path) draws the same
    with torch.inference_mode():
        one = model.network(tensors["z"][1:], None if c is None else c[1:], truncation_psi=card["psi"])
    assert (one - expected[1:]).abs().max().item() <= 1e-5 * max(1.0, scale)


def test_the_same_file_gets_the_same_model_id_and_a_card(writer, tmp_path):
    path, card, _ = nvidia_pickle(writer, tmp_path, "sg3t")
    first, second = load_model(path), load_model(path)
    assert first.metadata["id"] == second.metadata["id"]
    assert first.metadata["source"]["init_kwargs"]["channel_base"] == card["init_kwargs"]["channel_base"]
    assert first.metadata["licence"] == "unknown" and first.metadata["data"] == "unknown"
    assert first.resolution == 16 and first.latent_dim == 8


def test_an_option_that_could_change_the_image_is_refused(writer, tmp_path):
    path, _, _ = nvidia_pickle(writer, tmp_path, "sg3t", mystery_option=3)
    with pytest.raises(CheckpointError, match="G_ema cannot be played: options LatentVJ does not know.*mystery_option"):
        load_model(path)


def test_weights_that_do_not_fit_the_kwargs_are_refused(writer, tmp_path):
    # kwargs of a 32 px network, weights of a 16 px one
    path, _, _ = nvidia_pickle(writer, tmp_path, "sg2ada", img_resolution=32)
    with pytest.raises(CheckpointError, match=r"do not fit the network its init kwargs describe: missing weights "
                                              r"\[synthesis.b32"):
        load_model(path)


def test_another_generator_class_is_refused_by_name(writer, tmp_path):
    card, tensors = reference("sg2ada")
    state = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
    g = network(writer, class_name="my_fork.networks.Generator", init_kwargs=card["init_kwargs"], state=state,
                modules=card["modules"], buffers=card["buffers"])
    path = snapshot(tmp_path / "fork.pkl", G_ema=g)
    with pytest.raises(CheckpointError, match="its generator is a 'my_fork.networks.Generator'; LatentVJ reads"):
        load_model(path)


def test_stylegan3_filters_are_designed_as_the_files_hold_them():
    """A network made here designs its own filters (Kaiser-windowed sinc, jinc for -R); they are the files'."""
    for name in ("sg3t", "sg3r"):
        card, tensors = reference(name)
        filters = {k: v for k, v in tensors.items() if k.endswith("_filter")}
        assert filters
        _, config = stylegan_config(card["class_name"], (), card["init_kwargs"])
        ours = StyleGAN3(config).state_dict()
        for key, value in filters.items():
            assert torch.allclose(ours[key.removeprefix("state.")], value, atol=1e-7), key
    assert kaiser_lowpass(1, 2.0, 1.0, 16.0) is None


def test_half_precision_blocks_draw_close_to_full_precision():
    """What the renderer turns on for CUDA (num_fp16_res), run here on the CPU: the pre-normalised weights
    keep float16 activations in range, and the image stays within half precision's rounding."""
    config = StyleGAN2Config(resolution=32, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=256,
                             channel_max=32, num_fp16_res=2, conv_clamp=256)
    torch.manual_seed(0)
    g = StyleGAN2(config).eval()
    z = torch.randn(2, 8)
    with torch.inference_mode():
        full = g(z)
        g.synthesis.half = torch.float16
        half = g(z)
    assert half.dtype == torch.float32
    assert (half - full).abs().max().item() < 0.02 * full.abs().max().item()


@pytest.mark.parametrize("bad, message", [
    (dict(resolution=24), "power of two"), (dict(channels=5), "channels must be an integer from 1 to 4"),
    (dict(architecture="unet"), "architecture must be one of"), (dict(kernel_size=2), "odd"),
    (dict(latent_dim=0), "neither a latent"), (dict(conv_clamp=-1), "conv_clamp"),
])
def test_a_stylegan2_config_says_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        StyleGAN2Config(**{"resolution": 16, **bad})


def test_a_stylegan3_config_says_what_is_wrong():
    with pytest.raises(ValueError, match="num_critical"):
        StyleGAN3Config(resolution=16, num_layers=2, num_critical=2)
    with pytest.raises(ValueError, match="first_cutoff"):
        StyleGAN3Config(resolution=4, first_cutoff=2.0)


def test_import_writes_a_model_file_that_draws_what_the_pickle_draws(writer, tmp_path, capsys,
                                                                    _private_config_dir):
    from latentvj.bridge.cli import main

    path, card, tensors = nvidia_pickle(writer, tmp_path, "sg2_by_sg3")
    assert main(["import", str(path), "--out", "faces", "--licence", "CC-BY 4.0"]) == 0
    out = capsys.readouterr().out
    assert "G_ema of a StyleGAN2 written by NVlabs/stylegan3" in out
    assert "stylegan2, 16 px, 3 channels, z 8, w 8" in out and "3 classes" in out
    assert "also in the file, not used: D, G, augment_pipe, training_set_kwargs" in out
    assert "latentvj serve --model faces" in out
    imported = load_model(_private_config_dir / "models" / "faces.safetensors")
    original = load_model(path)
    assert imported.kind == "stylegan2" and imported.metadata["licence"] == "CC-BY 4.0"
    assert imported.metadata["id"] == original.metadata["id"], "presets made with the pickle play with the file"
    assert imported.metadata["source"]["init_kwargs"]["architecture"] == "resnet"
    with torch.inference_mode():
        c = tensors["c"]
        assert torch.equal(imported.network(tensors["z"], c, truncation_psi=0.7),
                           original.network(tensors["z"], c, truncation_psi=0.7))
    # again: refused, the file kept
    assert main(["import", str(path), "--out", "faces"]) != 0
    assert "is there already" in capsys.readouterr().err


def test_import_of_a_hostile_pickle_is_one_clear_error_and_nothing_runs(tmp_path, capsys, _private_config_dir):
    import pickle

    from latentvj.bridge.cli import main

    marker = tmp_path / "ran"

    class System:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)

    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps({"G_ema": System()}))
    assert main(["import", str(path)]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and "names posix.system" in err and "Traceback" not in err
    assert not marker.exists() and not (_private_config_dir / "models" / "network-snapshot.safetensors").exists()


def test_models_lists_a_pickle_in_the_model_folder_without_reading_it(writer, tmp_path, capsys, _private_config_dir):
    from latentvj.bridge.cli import main

    folder = _private_config_dir / "models"
    folder.mkdir(exist_ok=True)
    reference_pickle(writer, folder / "faces.pkl", "sg2ada")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "faces.pkl: another tool's model file (0 MB), read as data and converted when it loads" in out
    assert "`latentvj import faces.pkl` converts it once" in out
