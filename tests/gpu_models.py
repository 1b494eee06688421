"""Model files for the GPU bench (tests/gpu_check.sh): the StyleGAN2-ADA paper's configurations at 256 and 512 px
(``paper256``: channel base 16,384; ``paper512``: 32,768; both max 512, z and w 512, an 8-layer mapping, conv
clamp 256, fp16 in the 4 highest resolutions as NVIDIA trains them), random weights (speed does not depend on
their values). Usage: python tests/gpu_models.py FOLDER"""

import sys
from pathlib import Path

import torch

from latentvj.models.checkpoint import save_model
from latentvj.models.stylegan2 import StyleGAN2, StyleGAN2Config

PAPER = {256: 16384, 512: 32768}


def main(folder: str) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    for resolution, base in PAPER.items():
        torch.manual_seed(resolution)
        network = StyleGAN2(StyleGAN2Config(resolution=resolution, channel_base=base, channel_max=512,
                                            num_fp16_res=4, conv_clamp=256.0)).eval()
        path = save_model(Path(folder) / f"sg2-{resolution}.safetensors", network,
                          metadata={"name": f"sg2-paper{resolution}", "random_init": True, "data": "none",
                                    "licence": "MIT"})
        print(path)


if __name__ == "__main__":
    main(sys.argv[1])
