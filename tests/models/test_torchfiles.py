"""rosinality/stylegan2-pytorch checkpoints and the PyTorch DCGAN tutorial's generator, from torch.save files
in those layouts written here, play as those tools draw them; anything more than data in such a file is
refused and nothing runs."""

from __future__ import annotations

import argparse
import os

import pytest
import torch
from torch import nn

from latentvj.models.checkpoint import CheckpointError, load_model
from nvidia_pickles import reference


def rosinality_state(name: str = "sg2ada") -> tuple[dict, dict, dict]:
    """The reference StyleGAN2's weights under rosinality's names and shapes (its Generator's state dict:
    style.N (after a PixelNorm at style.0), input.input [1, C, 4, 4], conv1, to_rgb1, convs.N, to_rgbs.N with
    [1, O, I, k, k] weights, [1, 3, 1, 1] RGB biases, blur kernels, noises.noise_N [1, 1, H, W])."""
    card, tensors = reference(name)
    nv = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
    blur = torch.tensor([1.0, 3.0, 3.0, 1.0])
    blur = torch.outer(blur, blur) / 64
    out = {}
    layers = len([k for k in nv if k.startswith("mapping.fc") and k.endswith(".weight")])
    for i in range(layers):
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = nv[f"mapping.fc{i}.weight"], nv[f"mapping.fc{i}.bias"]
    out["input.input"] = nv["synthesis.b4.const"][None]
    noises = []

    def conv(dst, src, up=False):
        out[f"{dst}.conv.weight"] = nv[f"{src}.weight"][None]
        if up:
            out[f"{dst}.conv.blur.kernel"] = blur * 4
        out[f"{dst}.conv.modulation.weight"] = nv[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = nv[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = nv[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = nv[f"{src}.bias"]
        noises.append(nv[f"{src}.noise_const"][None, None])

    def rgb(dst, src, up=False):
        out[f"{dst}.bias"] = nv[f"{src}.bias"].reshape(1, -1, 1, 1)
        if up:
            out[f"{dst}.upsample.kernel"] = blur * 4
        out[f"{dst}.conv.weight"] = nv[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = nv[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = nv[f"{src}.affine.bias"]

    conv("conv1", "synthesis.b4.conv1")
    rgb("to_rgb1", "synthesis.b4.torgb")
    side, j = 8, 0
    while f"synthesis.b{side}.const" in nv or f"synthesis.b{side}.conv0.weight" in nv:
        conv(f"convs.{2 * j}", f"synthesis.b{side}.conv0", up=True)
        conv(f"convs.{2 * j + 1}", f"synthesis.b{side}.conv1")
        rgb(f"to_rgbs.{j}", f"synthesis.b{side}.torgb", up=True)
        side, j = side * 2, j + 1
    out |= {f"noises.noise_{i}": n for i, n in enumerate(noises)}
    return out, {"latent_avg": nv["mapping.w_avg"]}, tensors


def test_a_converted_rosinality_checkpoint_draws_what_nvidias_network_draws(tmp_path):
    """rosinality's convert_weight.py writes {"g_ema": state dict, "latent_avg": w_avg}; its network is
    StyleGAN2's, so it draws NVIDIA's reference images from the same weights."""
    state, extra, tensors = rosinality_state()
    path = tmp_path / "stylegan2-flowers.pt"
    torch.save({"g_ema": state, **extra}, path)
    model = load_model(path)
    assert model.kind == "stylegan2" and model.metadata["source"]["latent_avg"] == "from the file"
    with torch.inference_mode():
        drawn = model.render(tensors["z"], truncation=0.7)
    expected = tensors["images"]
    assert (drawn - expected).abs().max().item() <= 1e-5 * max(1.0, expected.abs().max().item())


def test_import_writes_a_rosinality_checkpoint_as_a_model_file(tmp_path, capsys, _private_config_dir):
    from latentvj.bridge.cli import main

    state, extra, tensors = rosinality_state()
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": state, **extra}, path)
    assert main(["import", str(path), "--out", "rosi"]) == 0
    assert "g_ema of a rosinality/stylegan2-pytorch checkpoint" in capsys.readouterr().out
    model = load_model(_private_config_dir / "models" / "rosi.safetensors")
    with torch.inference_mode():
        assert torch.allclose(model.render(tensors["z"], truncation=0.7), tensors["images"], atol=1e-5)


def test_a_rosinality_training_checkpoint_with_its_namespace_loads_as_data(tmp_path):
    """train.py saves g, d, g_ema, the optimisers and its argparse.Namespace; no latent_avg, so the
    average w is measured: truncation 0 then draws one image, the average, whatever z."""
    state, _, tensors = rosinality_state()
    args = argparse.Namespace(size=16, latent=8, n_mlp=2, channel_multiplier=2, path="/data/flowers", r1=10.0)
    path = tmp_path / "000400.pt"
    torch.save({"g": state, "d": {"convs.0.0.weight": torch.zeros(1)}, "g_ema": state,
                "g_optim": {"state": {}, "param_groups": [{"lr": 0.002}]}, "args": args, "ada_aug_p": 0.0}, path)
    model = load_model(path)
    assert model.metadata["source"]["args"]["path"] == "/data/flowers"
    assert "mean w" in model.metadata["source"]["latent_avg"]
    with torch.inference_mode():
        average = model.render(tensors["z"], truncation=0.0)
        free = model.render(tensors["z"], truncation=1.0)
    assert torch.allclose(average[0], average[1], atol=1e-5)
    assert not torch.allclose(free[0], free[1], atol=1e-2)


def dcgan_tutorial_generator(nz: int = 16, ngf: int = 4, nc: int = 3) -> nn.Sequential:
    """The PyTorch DCGAN tutorial's Generator.main, 64 px."""
    layers = [nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True)]
    for a, b in ((8, 4), (4, 2), (2, 1)):
        layers += [nn.ConvTranspose2d(ngf * a, ngf * b, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("wrapper", [None, "netG_state_dict", "generator"])
def test_a_dcgan_tutorial_generator_plays_as_it_draws(tmp_path, wrapper):
    torch.manual_seed(0)
    main = dcgan_tutorial_generator()
    with torch.no_grad():
        for m in main:
            if isinstance(m, nn.BatchNorm2d):  # trained statistics, not the initial ones
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    holder = nn.Module()
    holder.main = main
    state = holder.state_dict()
    path = tmp_path / "netG.pth"
    torch.save(state if wrapper is None else {wrapper: state, "epoch": 5}, path)
    model = load_model(path)
    assert model.kind == "gan" and (model.resolution, model.latent_dim, model.config.ngf) == (64, 16, 4)
    z = torch.randn(3, 16)
    with torch.inference_mode():
        assert torch.allclose(model.render(z), main.eval()(z[:, :, None, None]), atol=1e-6)


def test_a_torch_file_carrying_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class System:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(1)}, "hook": System()}, path)
    with pytest.raises(CheckpointError, match="evil.pt: holds more than tensors and plain data, refused"):
        load_model(path)
    assert not marker.exists()


def test_a_torch_file_of_another_network_says_what_it_holds(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1), "fc.bias": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=r"neither rosinality's StyleGAN2 .* nor the DCGAN tutorial's"):
        load_model(path)
    torch.save({"epoch": 3}, path)
    with pytest.raises(CheckpointError, match=r"without a generator's state dict \(it holds a dict of \['epoch'\]"):
        load_model(path)


def test_import_of_a_dcgan_checkpoint_prints_what_it_found(tmp_path, capsys, _private_config_dir):
    from latentvj.bridge.cli import main

    holder = nn.Module()
    holder.main = dcgan_tutorial_generator()
    path = tmp_path / "netG_epoch_24.pth"
    torch.save({"netG_state_dict": holder.state_dict()}, path)
    assert main(["import", str(path), "--out", "tutorial"]) == 0
    out = capsys.readouterr().out
    assert "netG_state_dict of a PyTorch DCGAN tutorial generator" in out
    assert "gan, 64 px, 3 channels, z 16" in out
    assert load_model(_private_config_dir / "models" / "tutorial.safetensors").kind == "gan"
