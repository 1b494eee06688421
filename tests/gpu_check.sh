#!/usr/bin/env bash
# The checks that need a GPU, as one short run for a session that is lent one (by chance; see
# docs/performance.md): the CUDA tests (marked gpu), then `latentvj bench` on CUDA with the compiled pass and
# the show's load, for the bundled GAN at 64-512 px and a StyleGAN2 at 256 and 512 px. Run from the repository
# root with a Python whose torch has CUDA (on the lent machines: python3, which has torch, numpy, safetensors,
# pillow and pytest; nothing is installed). Figures go to $OUT (else build/gpu-check) as JSON.
set -euo pipefail
PY=${PY:-python3}
out=${OUT:-build/gpu-check}
mkdir -p "$out" build/gpu-pkg/latentvj
# the package without installing it: its three folders under the latentvj namespace
touch build/gpu-pkg/latentvj/__init__.py
for part in models bridge plugin; do ln -sfn "$PWD/$part" "build/gpu-pkg/latentvj/$part"; done
export PYTHONPATH="$PWD/build/gpu-pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA on this machine'; print(torch.__version__, torch.cuda.get_device_name())"
$PY -m pytest -q -rs -m gpu -p no:cacheprovider tests/bridge/test_gpu.py 2>&1 | tee "$out/tests.txt"
$PY tests/gpu_models.py "$out"
bench() { $PY -m latentvj.bridge.cli bench --device cuda --compile --live "$@"; }
bench --sizes 64,128,256,512 --frames 100 --rounds 3 --json "$out/gan.json" 2>&1 | tee "$out/gan.txt"
# the lookahead's batches: where one small frame leaves the device idle, the most they can give
bench --sizes 64,256,512 --frames 100 --rounds 3 --batch 4 --json "$out/gan-batch4.json" 2>&1 \
    | tee "$out/gan-batch4.txt"
for size in 256 512; do
    bench --model "$out/sg2-$size.safetensors" --frames 50 --rounds 3 --json "$out/sg2-$size.json" 2>&1 \
        | tee "$out/sg2-$size.txt"
done
bench --model "$out/sg2-512.safetensors" --frames 48 --rounds 3 --batch 4 --json "$out/sg2-512-batch4.json" 2>&1 \
    | tee "$out/sg2-512-batch4.txt"
