"""Command-line mistakes end in one clear line and a non-zero exit, never a traceback."""

import socket

import pytest
import torch

from latentvj.bridge.cli import main


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def serve(capsys, shm_name, *extra):
    return run(capsys, "serve", "--osc-port", "0", "--http-port", "0", "--oscquery-port", "0", "--shm", shm_name,
               *extra)


def assert_one_clear_error(code, err, *fragments):
    assert code != 0
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line], err
    for fragment in fragments:
        assert fragment in err


def test_unknown_model_names_the_bundled_ones(capsys, shm_name):
    code, _, err = serve(capsys, shm_name, "--model", "no-such-model")
    assert_one_clear_error(code, err, "no-such-model", "emoji-gan")


def test_code_carrying_model_file_is_refused(capsys, shm_name, tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    code, _, err = serve(capsys, shm_name, "--model", str(bad))
    assert_one_clear_error(code, err, "evil.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_but_absent(capsys, shm_name):
    code, _, err = serve(capsys, shm_name, "--device", "cuda")
    assert_one_clear_error(code, err, "CUDA")


@pytest.mark.parametrize("size", ["big", "12x12", "640x", "100000x64"])
def test_bad_size(capsys, shm_name, size):
    code, _, err = serve(capsys, shm_name, "--size", size)
    assert_one_clear_error(code, err, "--size")


@pytest.mark.parametrize("value, says", [("abc", "expected milliseconds"), ("5000", "between 0 and 1000 ms"),
                                         ("nan", "between 0 and 1000 ms"), ("-1", "between 0 and 1000 ms")])
def test_bad_max_latency(capsys, shm_name, value, says):
    code, _, err = serve(capsys, shm_name, "--max-latency-ms", value)
    assert_one_clear_error(code, err, "--max-latency-ms", says)


def test_osc_port_in_use(capsys, shm_name):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--osc-port", str(port), "--http-port", "0", "--oscquery-port", "0",
                           "--shm", shm_name)
    assert_one_clear_error(code, err, f"port {port}", "in use", "--osc-port")


def test_http_port_in_use(capsys, shm_name):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--osc-port", "0", "--http-port", str(port), "--oscquery-port", "0",
                           "--shm", shm_name)
    assert_one_clear_error(code, err, f"port {port}", "--http-port")


def test_bad_shm_name(capsys):
    code, _, err = run(capsys, "serve", "--shm", "x" * 40)
    assert_one_clear_error(code, err, "--shm", "31 characters")


def test_models_shows_how_each_bundled_model_was_made(capsys):
    """Issue 9, bug 6: `latentvj models` left out the card's command line, steps, time and device."""
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "command: make bundled-models (latentvj train gan --data DATA" in out
    assert "trained: 5,000 steps, 158 min, on cpu, seed 0" in out


def test_a_corrected_card_keeps_the_presets_made_with_its_model():
    from latentvj.models.checkpoint import model_fingerprint
    from latentvj.models.registry import load

    model = load("emoji-gan")
    assert model_fingerprint(model) == model.metadata["id"] == "ebb5b6070b2635dc"


def test_models_lists_the_bundled_models_with_their_cards(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "emoji-gan (default): gan, 64 px" in out and "emoji-vae: vae, 64 px" in out
    assert "licence: CC-BY 4.0" in out and "RANDOMLY INITIALISED" not in out


def test_listening_beyond_localhost_needs_an_allow_list(capsys, shm_name):
    code, _, err = run(capsys, "serve", "--osc-host", "0.0.0.0", "--osc-port", "0", "--http-port", "0",
                       "--oscquery-port", "0", "--shm", shm_name)
    assert_one_clear_error(code, err, "--allow")


@pytest.mark.parametrize("option, value", [("--allow", "not-a-net"), ("--reply", "nohost"), ("--reply", "h:99999")])
def test_bad_allow_and_reply(capsys, shm_name, option, value):
    code, _, err = serve(capsys, shm_name, option, value)
    assert_one_clear_error(code, err, option)


def write_discs(folder, count=20):
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = np.zeros((32, 32, 4), np.uint8)
        pixels[8 + i % 8:20 + i % 8, 10:22] = (200, 40 + 5 * i, 90, 255)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")


def test_train_writes_a_named_model_that_serve_and_models_find(capsys, tmp_path, _private_config_dir):
    write_discs(tmp_path / "discs")
    code, out, err = run(capsys, "train", "gan", "--data", str(tmp_path / "discs"), "--size", "32", "--out", "discs",
                         "--steps", "3", "--batch", "4", "--latent", "16", "--width", "8", "--licence", "CC0")
    assert code == 0, err
    model = _private_config_dir / "models" / "discs.safetensors"
    assert model.is_file() and "latentvj serve --model discs" in out
    assert "20 images" in err and "1 unreadable files skipped" in err
    code, out, _ = run(capsys, "models")
    assert "discs: gan, 32 px" in out and "licence: CC0" in out
    from latentvj.models.registry import load
    command = load("discs", [_private_config_dir / "models"]).metadata["command"]
    assert command.startswith("latentvj train gan --data DATA --size 32 --out discs") and str(tmp_path) not in command


def test_train_vae_takes_the_kl_weight_and_its_card_says_so(capsys, tmp_path, _private_config_dir):
    write_discs(tmp_path / "discs")
    code, _, err = run(capsys, "train", "vae", "--data", str(tmp_path / "discs"), "--size", "32", "--out", "soft",
                       "--steps", "2", "--batch", "4", "--latent", "8", "--width", "8", "--beta", "4")
    assert code == 0, err
    from latentvj.models.registry import load
    card = load("soft", [_private_config_dir / "models"]).metadata
    assert "warm-up to beta 4.0" in card["architecture"] and "--beta 4" in card["command"]
    code, _, err = run(capsys, "train", "gan", "--data", str(tmp_path / "discs"), "--out", "x", "--beta", "2")
    assert_one_clear_error(code, err, "--beta is the VAE's KL weight")


def test_train_gan_takes_reflect_padding_and_its_card_says_so(capsys, tmp_path, _private_config_dir):
    write_discs(tmp_path / "discs")
    code, _, err = run(capsys, "train", "gan", "--data", str(tmp_path / "discs"), "--size", "32", "--out", "mirror",
                       "--steps", "2", "--batch", "4", "--latent", "16", "--width", "8", "--padding", "reflect")
    assert code == 0, err
    from latentvj.models.registry import load
    model = load("mirror", [_private_config_dir / "models"])
    assert model.config.padding == "reflect" and model.network.to_image.padding_mode == "reflect"
    assert "reflect padding" in model.metadata["architecture"] and "--padding reflect" in model.metadata["command"]
    code, _, err = run(capsys, "train", "vae", "--data", str(tmp_path / "discs"), "--out", "x", "--padding", "reflect")
    assert_one_clear_error(code, err, "--padding is the GAN's")


def test_train_with_too_few_images_is_one_clear_error(capsys, tmp_path):
    write_discs(tmp_path / "few", count=3)
    code, _, err = run(capsys, "train", "vae", "--data", str(tmp_path / "few"), "--out", "few")
    assert_one_clear_error(code, err, "3 readable images", "at least 16")


def test_a_model_that_cannot_play_is_one_clear_error(capsys, shm_name, tmp_path):
    from latentvj.models.checkpoint import save_model
    from latentvj.models.gan import GANConfig, Generator

    path = save_model(tmp_path / "five.safetensors",
                      Generator(GANConfig(resolution=32, latent_dim=8, ngf=4, ndf=4, channels=5)).eval())
    code, _, err = serve(capsys, shm_name, "--model", str(path))
    assert_one_clear_error(code, err, "draws 5 channels")


def test_the_preview_beyond_localhost_needs_an_allow_list_too(capsys, shm_name):
    code, _, err = serve(capsys, shm_name, "--http-host", "0.0.0.0")
    assert_one_clear_error(code, err, "--http-host 0.0.0.0", "--allow")


def test_verbose_goes_before_or_after_the_command():
    """Issue 9, bug 7: docs/touchdesigner.md gave `latentvj serve -v`, which argparse refused."""
    from latentvj.bridge.cli import build_parser

    for argv in (["-v", "serve"], ["serve", "-v"], ["serve", "--verbose"], ["models", "-v"]):
        assert build_parser().parse_args(argv).verbose, argv
    assert not build_parser().parse_args(["serve"]).verbose


def test_the_package_metadata_is_what_setuptools_takes_without_warnings():
    """Issue 9, bug 8: `pip install` printed ~150 setuptools warnings: the licence as a table, and folders of
    package data missing from `packages`."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    setuptools = project["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    folders = {f"latentvj.{top}": root / top for top in ("models", "bridge", "plugin")}
    for package, folder in folders.items():
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".safetensors", ".maxpat", ".pd", ".py") \
                    and "__pycache__" not in path.parts:
                owner = ".".join([package, *path.parent.relative_to(folder).parts])
                assert owner in packages, f"{path.relative_to(root)} ships, but {owner} is not in packages"
    for package, patterns in setuptools["package-data"].items():
        assert package in packages and patterns


def test_a_second_ctrl_c_forces_the_exit():
    from latentvj.bridge.cli import stop_handler

    events = []
    handler = stop_handler(lambda: events.append("stop"), exit=lambda code: events.append(("exit", code)))
    handler(2, None)
    assert events == ["stop"], "the first asks for a clean stop"
    handler(2, None)
    assert events == ["stop", ("exit", 130)], "the second exits at once"
