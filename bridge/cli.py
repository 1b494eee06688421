"""The `latentvj` command: serve, models, bench.

Every mistake a user can make on the command line (unknown model, port in use, CUDA asked for but absent,
bad size) ends in one clear message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from pathlib import Path
from typing import Sequence

EXIT_USAGE = 2


class _CliError(Exception):
    pass


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 512x512, got {text!r}")
    w, h = int(match[1]), int(match[2])
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"each side must be 16..8192 pixels, got {w}x{h}")
    return w, h


def _fps(text: str) -> float:
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of frames per second, got {text!r}") from None
    if not 1 <= fps <= 240:
        raise argparse.ArgumentTypeError(f"must be between 1 and 240, got {text}")
    return fps


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535 (0 picks a free one), got {text!r}")
    return int(text)


def _shm_name(text: str) -> str:
    from latentvj.plugin.shmring import validate_name

    try:
        return validate_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _network(text: str) -> str:
    import ipaddress

    if text == "any":
        return text
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an address or network such as 192.168.1.0/24 (or 'any'), "
                                         f"got {text!r}") from None


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:9010, got {text!r}")
    return host, int(port)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated resolutions such as 64,128,256, got {text!r}") from None
    bad = [s for s in sizes if s < 32 or s > 512 or s & (s - 1)]
    if not sizes or bad:
        raise argparse.ArgumentTypeError(f"resolutions must be powers of two in 32..512, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    from latentvj.models.registry import DEFAULT_MODEL

    from .device import DEVICES, PRECISIONS
    from .presets import default_config_dir, default_presets_path

    parser = argparse.ArgumentParser(prog="latentvj", description="Realtime neural visuals: a resident GAN/VAE "
                                     "walking its latent space, streamed to hosts and controlled over OSC.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail (every OSC message)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def device_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH",
                       help=f"bundled model name or .safetensors file (default: {DEFAULT_MODEL})")
        p.add_argument("--device", default="auto", metavar="|".join(DEVICES),
                       help="where the model runs (default: auto = cuda > mps > cpu)")
        p.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="auto = fp16 on CUDA/MPS, fp32 on CPU")

    serve = commands.add_parser("serve", help="run the generator: shared memory + preview + OSC")
    device_options(serve)
    serve.add_argument("--size", type=_size, metavar="WxH", help="output size (default: the model's resolution)")
    serve.add_argument("--fps", type=_fps, default=30.0, help="target frame rate (default: 30)")
    serve.add_argument("--osc-host", default="127.0.0.1", help="OSC listen address (default: 127.0.0.1)")
    serve.add_argument("--osc-port", type=_port, default=9000, help="OSC UDP port (default: 9000)")
    serve.add_argument("--http-host", default="127.0.0.1", help="preview listen address (default: 127.0.0.1)")
    serve.add_argument("--http-port", type=_port, default=9001, help="preview HTTP port (default: 9001)")
    serve.add_argument("--shm", type=_shm_name, default="latentvj", metavar="NAME",
                       help="shared-memory frame ring name, <= 30 characters (default: latentvj)")
    serve.add_argument("--allow", action="append", default=[], type=_network, metavar="CIDR",
                       help="with --osc-host other than 127.0.0.1: a network or address whose OSC is accepted "
                            "(repeatable; 'any' for everyone); packets from elsewhere are dropped and counted")
    serve.add_argument("--reply", action="append", default=[], type=_host_port, metavar="HOST:PORT",
                       help="send echoes, errors and periodic status there from the start (repeatable), for "
                            "hosts that listen on a fixed port (TouchDesigner OSC In, Max udpreceive)")
    serve.add_argument("--oscquery-port", type=_port, default=9002,
                       help="OSCQuery HTTP/WebSocket port, on --http-host (default: 9002)")
    serve.add_argument("--mdns", action="store_true",
                       help="advertise OSCQuery and OSC over mDNS/Bonjour (needs the [mdns] extra)")
    serve.add_argument("--models", action="append", default=None, type=Path, metavar="DIR",
                       help="folder /lvj/model/load may load files from (repeatable; default: "
                            f"{default_config_dir() / 'models'})")
    serve.add_argument("--presets", type=Path, default=default_presets_path(), metavar="FILE",
                       help=f"presets file (default: {default_presets_path()})")
    serve.add_argument("--no-presets", action="store_true", help="keep no presets file")

    commands.add_parser("models", help="list the bundled models")

    bench = commands.add_parser("bench", help="forward pass vs end-to-end engine frame rate, in one run")
    device_options(bench)
    bench.add_argument("--sizes", type=_sizes, default=None, metavar="64,128,256",
                       help="resolutions to measure (a randomly initialised copy of the model's architecture "
                            "at each; default: the model's own resolution)")
    bench.add_argument("--frames", type=int, default=120, help="frames per measurement (default: 120)")
    bench.add_argument("--flood", type=float, default=0.0, metavar="MSGS_PER_S",
                       help="also measure the engine while a separate process sends OSC at this rate (e.g. "
                            "20000), first to a socket nobody reads (the sender's own cost), then to the "
                            "engine's OSC server; the flood ratio compares the two: what handling it costs")
    bench.add_argument("--rounds", type=int, default=5,
                       help="alternating forward/engine rounds; medians over all (default: 5)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="latentvj: %(levelname)s: %(message)s" if args.verbose else "latentvj: %(message)s")
    try:
        return {"serve": _serve, "models": _models, "bench": _bench}[args.command](args)
    except _CliError as exc:
        print(f"latentvj {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _user_errors() -> tuple[type[Exception], ...]:
    from latentvj.models.checkpoint import CheckpointError

    from .device import DeviceError
    from .server import ServeError
    from .shm import SharedMemoryInUseError

    return CheckpointError, DeviceError, ServeError, SharedMemoryInUseError


def _serve(args: argparse.Namespace) -> int:
    from .engine import EngineConfig
    from .server import ServeConfig, Server

    config = ServeConfig(
        model=args.model, shm=args.shm,
        engine=EngineConfig(device=args.device, precision=args.precision, fps=args.fps, size=args.size),
        osc_host=args.osc_host, osc_port=args.osc_port, allow=args.allow, reply=args.reply,
        http_host=args.http_host, http_port=args.http_port, oscquery_port=args.oscquery_port, mdns=args.mdns,
        presets=None if args.no_presets else args.presets,
    )
    if args.models:
        config.model_dirs = args.models
    try:
        server = Server(config)
    except _user_errors() as exc:
        raise _CliError(str(exc)) from None
    # Signal handlers only set a flag; the render loop finishes its frame and everything is closed in order.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    print(server.describe(), flush=True)
    server.run()
    return 0


def _models(args: argparse.Namespace) -> int:
    from latentvj.models.registry import DEFAULT_MODEL, list_models

    for info in list_models():
        meta = info.metadata
        default = " (default)" if info.name == DEFAULT_MODEL else ""
        print(f"{info.name}{default}: {meta.get('kind', '?')}, {meta.get('resolution', '?')} px, "
              f"latent {meta.get('latent_dim', '?')}")
        if meta.get("random_init"):
            print("    RANDOMLY INITIALISED: an untrained placeholder, not a trained model")
        for key in ("description", "data", "licence"):
            if meta.get(key):
                print(f"    {key}: {meta[key]}")
        print(f"    file: {info.path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    if args.frames < 10 or args.rounds < 1:
        raise _CliError("--frames must be at least 10 and --rounds at least 1")
    try:
        run_bench(args.model, device=args.device, precision=args.precision, sizes=args.sizes,
                  frames=args.frames, rounds=args.rounds, flood=args.flood, out=sys.stdout)
    except _user_errors() as exc:
        raise _CliError(str(exc)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
