#!/bin/sh
# Render seamless loops of the default model for a clip library: an MP4 for anywhere, a HAP .mov for
# Resolume / TouchDesigner, and a GIF for the web. Usage: sh examples/render_loop.sh [OUT_DIR] [MODEL]
set -e
out=${1:-clips}
model=${2:-emoji-gan}
mkdir -p "$out"
latentvj render --model "$model" --walk loop --seconds 8 --fps 30 --size 256x256 --out "$out/loop.mp4" --overwrite
latentvj render --model "$model" --walk loop --seconds 8 --fps 30 --size 256x256 --out "$out/loop.mov" --overwrite
latentvj render --model "$model" --walk noise --seconds 4 --fps 15 --size 128x128 --out "$out/noise.gif" --overwrite
echo "clips in $out/"
