"""How tests/models/data/stylegan_reference.safetensors was made: NVIDIA's own forward passes, for the
reference check in tests/models/test_stylegan.py. Run by hand, never by the tests:

    python tests/models/data/make_stylegan_reference.py PATH/stylegan2-ada-pytorch PATH/stylegan3

It needs checkouts of NVlabs/stylegan2-ada-pytorch and NVlabs/stylegan3 (their code is under NVIDIA's
non-commercial licence: it is imported from those checkouts here, never copied into LatentVJ, and nothing of
it is in the file written) and scipy (StyleGAN3 designs its filters with it). For each tiny configuration
below, NVIDIA's Generator is built from the init kwargs as that code's training script passes them, its
weights set to seeded random values (biases and noise strengths away from zero, so every term counts), and
its output for two seeded z at truncation 0.7 with the stored noise recorded. The file holds, per
configuration: the state dict, the z, the class labels, the images, and a JSON card with the class name,
the init kwargs, the module tree's class names and which tensors are buffers: all a test needs to write a
pickle laid out as NVIDIA's persistence module writes one, with no NVIDIA code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).with_name("stylegan_reference.safetensors")
PSI = 0.7
CONFIGS = {
    # StyleGAN2-ADA's train.py: G_kwargs with mapping_kwargs and synthesis_kwargs nested
    "sg2ada": dict(repo=0, module="training.networks", kwargs=dict(
        z_dim=8, w_dim=8, c_dim=0, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=128, channel_max=16,
                                                                 num_fp16_res=0, conv_clamp=256))),
    # StyleGAN3's train.py --cfg=stylegan2, class-conditional, the resnet variant: synthesis kwargs flat
    "sg2_by_sg3": dict(repo=1, module="training.networks_stylegan2", kwargs=dict(
        z_dim=8, w_dim=8, c_dim=3, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
        channel_base=128, channel_max=16, num_fp16_res=0, conv_clamp=None, architecture="resnet",
        fused_modconv_default="inference_only")),
    # StyleGAN3's train.py --cfg=stylegan3-t
    "sg3t": dict(repo=1, module="training.networks_stylegan3", kwargs=dict(
        z_dim=8, w_dim=8, c_dim=0, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
        channel_base=256, channel_max=16, num_layers=4, margin_size=4, num_fp16_res=0, conv_clamp=256,
        magnitude_ema_beta=0.999)),
    # --cfg=stylegan3-r: 1x1 convolutions, radially symmetric downsampling filters
    "sg3r": dict(repo=1, module="training.networks_stylegan3", kwargs=dict(
        z_dim=8, w_dim=8, c_dim=0, img_resolution=16, img_channels=4, mapping_kwargs=dict(num_layers=2),
        channel_base=512, channel_max=32, num_layers=4, margin_size=4, num_fp16_res=0, conv_clamp=256,
        conv_kernel=1, use_radial_filters=True, magnitude_ema_beta=0.999)),
}


def child(name: str, repo: str, out: str) -> None:
    """In a process of its own (both repositories name their packages `training` and `torch_utils`)."""
    import importlib

    import torch
    from safetensors.torch import save_file

    sys.path.insert(0, repo)
    spec = CONFIGS[name]
    G = importlib.import_module(spec["module"]).Generator(**spec["kwargs"]).eval()
    rng = torch.Generator().manual_seed(sum(map(ord, name)))
    designed = ("filter", "freqs", "phases", "transform")  # what the architecture fixes: left as built
    with torch.no_grad():
        for key, value in G.state_dict().items():
            if key.endswith(designed):
                continue
            if key.endswith("magnitude_ema"):
                value.fill_(0.5 + torch.rand((), generator=rng).item())
                continue
            # the mapping's layers store weights and biases at 1 / lr_multiplier (0.01), as trained ones do, so
            # that w depends on z as much as in a trained network
            stored = 100.0 if key.startswith("mapping.fc") else 1.0
            if value.ndim < 2:
                base = 1.0 if key.endswith("affine.bias") else 0.0
                value.copy_(base + 0.3 * stored * torch.randn(value.shape, generator=rng))
            else:
                value.copy_(stored * torch.randn(value.shape, generator=rng))
    z = torch.randn(2, G.z_dim, generator=rng)
    c = torch.eye(max(G.c_dim, 1))[:2, :G.c_dim] if G.c_dim else torch.zeros(2, 0)
    with torch.no_grad():
        images = G(z, c if G.c_dim else None, truncation_psi=PSI, noise_mode="const")
    tensors = {f"state.{k}": v.contiguous() for k, v in G.state_dict().items()}
    tensors |= {"z": z, "c": c, "images": images.contiguous()}
    buffers = [n for n, _ in G.named_buffers()]
    modules = {n: type(m).__name__ for n, m in G.named_modules()}
    card = dict(class_name=f"{spec['module']}.Generator", init_kwargs=spec["kwargs"], psi=PSI,
                buffers=buffers, modules=modules)
    save_file(tensors, out, metadata={"card": json.dumps(card)})


def main(sg2_repo: str, sg3_repo: str) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    repos = (sg2_repo, sg3_repo)
    tensors, cards = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in CONFIGS.items():
            part = f"{tmp}/{name}.safetensors"
            subprocess.run([sys.executable, __file__, "--child", name, repos[spec["repo"]], part], check=True)
            with safe_open(part, framework="pt") as f:
                cards[name] = json.loads(f.metadata()["card"])
                tensors |= {f"{name}.{k}": f.get_tensor(k) for k in f.keys()}
    save_file(tensors, OUT, metadata={"configs": json.dumps(cards, sort_keys=True)})
    print(f"{OUT}: {len(tensors)} tensors, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main(*sys.argv[1:3])
