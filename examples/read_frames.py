"""Read frames from a running `latentvj serve` and save a contact sheet of one second of output.

    latentvj serve &            # in another terminal
    python examples/read_frames.py [--shm latentvj] [--out sheet.png]
"""

import argparse
import time

import numpy as np
from PIL import Image

from latentvj.plugin.shmring import ShmFrameReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shm", default="latentvj")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--out", default="sheet.png")
    args = parser.parse_args()

    frames, last = [], 0
    with ShmFrameReader(args.shm) as reader:
        print(f"attached to {reader!r}")
        deadline = time.monotonic() + 10
        while len(frames) < args.frames and time.monotonic() < deadline:
            frame = reader.read(newer_than=last)
            if frame is None:
                time.sleep(0.005)  # nothing newer yet
                continue
            last = frame.number
            frames.append(frame.pixels)
    if not frames:
        raise SystemExit("no frames arrived within 10 s")
    Image.fromarray(np.concatenate(frames, axis=1)).save(args.out)
    print(f"wrote {len(frames)} frames side by side to {args.out}")


if __name__ == "__main__":
    main()
