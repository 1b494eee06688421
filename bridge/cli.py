"""The `latentvj` command: serve, models, train, encode, eval, render, bench.

Every mistake a user can make on the command line (unknown model, port in use, CUDA asked for but absent,
bad size) ends in one clear message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

EXIT_USAGE = 2


class _CliError(Exception):
    pass


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 512x512, got {text!r}")
    from .control.params import OUTPUT_SIDES

    w, h = int(match[1]), int(match[2])
    lo, hi = OUTPUT_SIDES
    if not (lo <= w <= hi and lo <= h <= hi):
        raise argparse.ArgumentTypeError(f"each side must be {lo}..{hi} pixels, got {w}x{h}")
    return w, h


def _threads(text: str) -> int | None:
    from .threads import parse_threads

    try:
        return parse_threads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--threads ")) from None


def _within(text: str, convert: Callable, lo: float, hi: float, *, expected: str, unit: str = ""):
    """An option's number: ``convert(text)`` between ``lo`` and ``hi`` (NaN is not), else a clear error."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"must be between {lo:g} and {hi:g}{unit}, got {text}")
    return value


def _max_latency(text: str) -> float:
    from .engine import MAX_LATENCY_S

    return _within(text, float, 0, MAX_LATENCY_S * 1e3, expected="milliseconds", unit=" ms")


def _batch(text: str) -> int:
    return _within(text, int, 1, 16, expected="a number of frames", unit=" frames")


def _fps(text: str) -> float:
    return _within(text, float, 1, 240, expected="a number of frames per second")


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
    from .folders import default_config_dir, default_presets_path

    parser = argparse.ArgumentParser(prog="latentvj", description="Realtime neural visuals: a resident GAN/VAE "
                                     "walking its latent space, streamed to hosts and controlled over OSC.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail (every OSC message)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbose = argparse.ArgumentParser(add_help=False)  # -v works after the command too: `latentvj serve -v`
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log debug detail (every OSC message)")

    def command(name: str, **options) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[verbose], **options)

    def device_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH",
                       help=f"bundled model name, .safetensors file or StyleGAN network pickle (.pkl, read "
                            f"as data) (default: {DEFAULT_MODEL})")
        p.add_argument("--device", default="auto", metavar="|".join(DEVICES),
                       help="where the model runs (default: auto = cuda > mps > cpu)")
        p.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="auto = fp16 on CUDA/MPS, bf16 on a CPU with bf16 arithmetic, else fp32")

    serve = command("serve", help="run the generator: shared memory + preview + OSC")
    device_options(serve)
    serve.add_argument("--size", type=_size, metavar="WxH", help="output size (default: the model's resolution)")
    serve.add_argument("--fps", type=_fps, default=30.0, help="target frame rate (default: 30)")
    serve.add_argument("--compile", choices=("auto", "off"), default=os.environ.get("LATENTVJ_COMPILE", "auto"),
                       help="compile the forward pass in the background and play it once ready (torch.compile; "
                            "the uncompiled one plays meanwhile; default: auto, or $LATENTVJ_COMPILE)")
    serve.add_argument("--threads", type=_threads, default=None, metavar="N|auto",
                       help="CPU threads of the forward pass (default: auto, one fewer than the cores, then "
                            "as the frame times say: docs/performance.md)")
    serve.add_argument("--max-latency-ms", type=_max_latency, default=0.0, metavar="MS",
                       help="lookahead: while only the walk moves, draw the frames due within MS ahead, in "
                            "batches where that is faster, each sent on its tick; any control change drops "
                            "them (default: 0, each frame drawn on its tick; docs/performance.md)")
    serve.add_argument("--osc-host", default="127.0.0.1",
                       help="OSC listen address (default: 127.0.0.1; another needs --allow)")
    serve.add_argument("--osc-port", type=_port, default=9000, help="OSC UDP port (default: 9000)")
    serve.add_argument("--http-host", default="127.0.0.1",
                       help="preview and OSCQuery listen address (default: 127.0.0.1; another needs --allow)")
    serve.add_argument("--http-port", type=_port, default=9001, help="preview HTTP port (default: 9001)")
    serve.add_argument("--shm", type=_shm_name, default="latentvj", metavar="NAME",
                       help="shared-memory frame ring name, <= 30 characters (default: latentvj)")
    serve.add_argument("--allow", action="append", default=[], type=_network, metavar="CIDR",
                       help="with --osc-host or --http-host other than 127.0.0.1: a network or address that "
                            "may control and connect (repeatable; 'any' for everyone); OSC from elsewhere is "
                            "dropped and counted, connections from elsewhere are closed")
    serve.add_argument("--reply", action="append", default=[], type=_host_port, metavar="HOST:PORT",
                       help="send echoes, errors and periodic status there from the start (repeatable), for "
                            "hosts that listen on a fixed port (TouchDesigner OSC In, Max udpreceive)")
    serve.add_argument("--allow-file-pages", action="store_true",
                       help="take OSC over the OSCQuery WebSocket from web pages opened from a file (such as "
                            "examples/faders.html); their origin, null, is also what sandboxed frames of any "
                            "web page send, so this is off by default")
    serve.add_argument("--oscquery-port", type=_port, default=9002,
                       help="OSCQuery HTTP/WebSocket port, on --http-host (default: 9002)")
    serve.add_argument("--mdns", action="store_true",
                       help="advertise OSCQuery and OSC over mDNS/Bonjour (needs the [mdns] extra)")
    serve.add_argument("--models", action="append", default=None, type=Path, metavar="DIR",
                       help="folder /lvj/model/load may load files from (repeatable; default: "
                            f"{default_config_dir() / 'models'})")
    serve.add_argument("--images", action="append", default=None, type=Path, metavar="DIR",
                       help="folder /lvj/encode may read images from (repeatable; default: "
                            f"{default_config_dir() / 'images'})")
    serve.add_argument("--presets", type=Path, default=default_presets_path(), metavar="FILE",
                       help=f"presets file (default: {default_presets_path()})")
    serve.add_argument("--no-presets", action="store_true", help="keep no presets file")
    serve.add_argument("--jitter", type=_host_port, metavar="HOST:PORT",
                       help="also send frames to Max: jit.net.recv @port PORT on HOST (e.g. 127.0.0.1:7474)")
    serve.add_argument("--ndi", metavar="NAME",
                       help="also publish frames as the NDI source NAME (pip install 'latentvj[ndi]')")
    serve.add_argument("--spout", metavar="NAME",
                       help="Windows: also share frames as the Spout sender NAME, for TouchDesigner, Resolume, "
                            "OBS (pip install 'latentvj[spout]')")
    serve.add_argument("--syphon", metavar="NAME",
                       help="macOS: also share frames as the Syphon server NAME, for TouchDesigner, Resolume, "
                            "MadMapper (pip install 'latentvj[syphon]')")
    serve.add_argument("--record", nargs="?", const="", metavar="FILE",
                       help="record the output from the first frame: into FILE (.mp4 H.264 or .mov HAP; a "
                            "folder: a take named by the time in it), or with no FILE into the recordings "
                            "folder; /lvj/record/start and /lvj/record/stop start and stop takes")
    serve.add_argument("--recordings", type=Path, metavar="DIR",
                       help="where /lvj/record/start writes (default: recordings/ in the config folder)")

    serve.add_argument("--tempo", choices=("internal", "osc", "midi", "link", "audio"), default="internal",
                       help="where the beat comes from (default: internal; also /lvj/tempo/source)")
    serve.add_argument("--bpm", type=float, default=120.0, help="starting tempo (default: 120)")
    serve.add_argument("--link", dest="tempo", action="store_const", const="link",
                       help="join an Ableton Link session: --tempo link (pip install 'latentvj[link]', GPL-3.0)")
    serve.add_argument("--midi-clock", metavar="PORT",
                       help="follow MIDI clock from this input port (a name or part of one, or auto; "
                            "pip install 'latentvj[midi]'); with --tempo midi, or later /lvj/tempo/source midi")
    serve.add_argument("--midi", metavar="PORT",
                       help="a MIDI controller on this input port (a name or part of one, or auto): CCs, notes "
                            "and pitch bend as modulation sources and /lvj/midi/learn (pip install 'latentvj[midi]')")
    serve.add_argument("--audio", metavar="DEVICE",
                       help="live audio in (a device's name or part of one, or auto; `latentvj audio-devices` "
                            "lists them): its features feed audio:... routes (pip install 'latentvj[audio]')")
    serve.add_argument("--audio-file", type=Path, metavar="FILE.wav",
                       help="play a WAV into the audio features at its own pace instead (rehearsal)")
    serve.add_argument("--audio-channel", type=int, default=0, metavar="N", help="the input channel (default 0)")
    serve.add_argument("--audio-gate", type=float, default=-80.0, metavar="DBFS",
                       help="live audio quieter than this is silence (default -80; also /lvj/audio/gate)")
    serve.add_argument("--midi-out", metavar="PORT",
                       help="send values changed elsewhere back to the controller on this output port "
                            "(motorised faders, LED rings)")
    serve.add_argument("--midi-api", choices=("auto", "alsa", "jack", "coremidi", "windows"), default="auto",
                       help="which MIDI system to find the port on (default: every one there is)")
    serve.add_argument("--quantise", choices=("off", "beat", "bar", "2bars", "4bars"), default="off",
                       help="changes wait for this boundary (default: off; also /lvj/quantise)")
    serve.add_argument("--routes", type=Path, default=None, metavar="FILE",
                       help="the modulation routes' file (default: routes.json in the config folder)")
    serve.add_argument("--no-routes", action="store_true", help="keep the routes in memory only")
    serve.add_argument("--walk-offset", type=float, default=0.0, metavar="BEATS",
                       help="this node's walks run BEATS ahead on the shared beat (render nodes of a wall)")

    imports = command("import", help="convert a StyleGAN2-ADA / StyleGAN3 network pickle, a rosinality StyleGAN2 or "
                                     "a DCGAN checkpoint to a LatentVJ model file, read as data (nothing in it is run)")
    imports.add_argument("file", type=Path, metavar="FILE",
                         help="network-snapshot-*.pkl, or a torch.save file (.pt, .pth)")
    imports.add_argument("--out", default=None, metavar="NAME|PATH",
                         help="a model name (written to the model folder, so `serve --model NAME` plays it) or a "
                              "path ending in .safetensors (default: the file's name in the model folder)")
    imports.add_argument("--data", default=None, metavar="TEXT", help="what it was trained on, for the model card")
    imports.add_argument("--licence", default=None, metavar="TEXT", help="its licence, for the model card")
    imports.add_argument("--force", action="store_true", help="replace a model file that is there")

    command("audio-devices", help="list the audio inputs (for serve --audio)")
    command("models", help="list the bundled models and those in the model folder")

    encode = command("encode", help="turn images into latent points, stored as presets")
    encode.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    encode.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH", help="the model to encode for")
    encode.add_argument("--preset", type=int, required=True, metavar="N",
                        help="preset slot of the first image; the next images take the next slots")
    encode.add_argument("--steps", type=int, default=200, help="GAN latent optimisation steps (default 200)")
    encode.add_argument("--presets", type=Path, default=None, metavar="FILE", help="presets file (default: "
                        "the one `serve` uses)")

    evaluate = command("eval", help="how close a model's samples are to a folder of images, "
                                   "and how smooth its walks are; against a random twin")
    evaluate.add_argument("model", metavar="MODEL", help="bundled name, name in the model folder, or path")
    evaluate.add_argument("--data", required=True, type=Path, metavar="DIR")
    evaluate.add_argument("--samples", type=int, default=1000, help="generated samples (default 1000)")
    evaluate.add_argument("--seed", type=int, default=0)

    train = command("train", help="train a GAN or VAE on a folder of images")
    train.add_argument("kind", choices=("gan", "vae"))
    train.add_argument("--data", required=True, type=Path, metavar="DIR",
                       help="folder of images (any format Pillow reads; searched recursively)")
    train.add_argument("--size", type=int, choices=(32, 64, 128, 256), default=64, help="image side (default 64)")
    train.add_argument("--out", required=True, metavar="NAME|PATH",
                       help="a model name (written to the model folder, so `serve --model NAME` plays it) "
                            "or a path ending in .safetensors")
    train.add_argument("--steps", type=int, default=5000, help="optimisation steps in all (default 5000)")
    train.add_argument("--batch", type=int, default=64, help="images per step (default 64)")
    train.add_argument("--latent", type=int, default=128, help="latent size (default 128)")
    train.add_argument("--width", type=int, default=None,
                       help="network width: GAN ngf/ndf (default 64), VAE base channels (default 32)")
    train.add_argument("--padding", choices=("zeros", "reflect"), default=None,
                       help="GAN: what its convolutions see beyond the image's edge (default zeros; reflect: "
                            "the edge mirrored, no lines of its own at the border)")
    train.add_argument("--beta", type=float, default=None,
                       help="VAE: the KL term's final weight (default 1; higher: prior samples that look more "
                            "like the data, reconstructions softer)")
    train.add_argument("--seed", type=int, default=0, help="seed: the same seed gives the same model")
    train.add_argument("--resume", action="store_true", help="go on from NAME's saved training state")
    train.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    train.add_argument("--background", choices=("black", "white"), default="black",
                       help="colour behind transparent images (default black)")
    train.add_argument("--data-name", default=None, help="what the data is, for the model card")
    train.add_argument("--licence", default="unknown", help="the data's licence, for the model card")
    train.add_argument("--limit", type=int, default=None, help="use only the first N images (quick trials)")
    train.add_argument("--sample-every", type=int, default=500, help="write sample grids every N steps")
    train.add_argument("--card-command", default=None, metavar="TEXT",
                       help="how the card says to rerun this training, before the command itself (the "
                            "Makefile passes 'make bundled-models')")

    render = command("render", help="render a walk to a clip: .mp4, .mov (HAP), .gif or a folder "
                                 "of PNG frames; loop, noise and keyframes walks loop seamlessly")
    render.add_argument("--out", required=True, type=Path, metavar="FILE|DIR/",
                        help="loop.mp4 (H.264), loop.mov (HAP), loop.gif, or frames/ for PNGs")
    device_options(render)
    render.add_argument("--seconds", type=float, help="clip length (default: 8, or the whole --audio song)")
    render.add_argument("--fps", type=float, default=30.0, help="frames per second (default: 30)")
    render.add_argument("--walk", default="loop", metavar="MODE",
                        help="loop (default), noise, keyframes (all seamless), drift or hold")
    render.add_argument("--loops", type=int, default=1, help="walk periods in the clip (default: 1)")
    render.add_argument("--bpm", type=float, metavar="BPM",
                        help="with --bars: the clip is exactly BARS bars at BPM (the frame count follows)")
    render.add_argument("--bars", type=float, metavar="BARS", help="clip length in bars of 4 beats (with --bpm)")
    render.add_argument("--seed", type=int, default=0, help="the seed the walk moves around (default: 0)")
    render.add_argument("--speed", type=float, default=1.0, help="drift speed (default: 1)")
    render.add_argument("--truncation", type=float, default=1.0,
                        help="GAN truncation / VAE temperature, 0..2 (default: 1)")
    render.add_argument("--size", type=_size, metavar="WxH", help="output size (default: the model's resolution)")
    render.add_argument("--overwrite", action="store_true", help="replace an existing file or frames")
    render.add_argument("--audio", type=Path, metavar="SONG.wav",
                        help="an audio-reactive clip: the song's sound drives the routes, the clip lasts the song "
                             "and the sound is muxed in (MP4, .mov)")
    render.add_argument("--routes", metavar="SET|FILE",
                        help="modulation routes: a shipped set (beat-breathing, bar-sweep, bass-pulse, "
                             "controller-8-knobs) or a routes.json (default with --audio: bass-pulse)")

    bench = command("bench", help="forward pass vs end-to-end engine frame rate, in one run")
    device_options(bench)
    bench.add_argument("--batch", type=_batch, default=1, metavar="N",
                       help="frames drawn in one pass: the forward pass draws N at once, the engine draws them "
                            "ahead with serve's lookahead; ms are per frame (default 1)")
    bench.add_argument("--sizes", type=_sizes, default=None, metavar="64,128,256",
                       help="resolutions to measure (a randomly initialised copy of the model's architecture "
                            "at each; default: the model's own resolution)")
    bench.add_argument("--frames", type=int, default=120, help="frames per measurement (default: 120)")
    bench.add_argument("--link-nodes", type=float, default=0.0, metavar="SECONDS",
                       help="run two serve --link nodes for SECONDS and measure how far apart their beats are "
                            "(run it inside a network namespace: see docs/tempo.md)")
    bench.add_argument("--audio-latency", type=float, default=0.0, metavar="SECONDS",
                       help="clicks through JACK's dummy driver into serve --audio for SECONDS: the latency from "
                            "a click to the first frame that shows it, p50/p90/p99 (needs jackd2 and the audio extra)")
    bench.add_argument("--json", type=Path, metavar="FILE",
                       help="also write the figures as JSON (--link-nodes, --audio-latency)")
    bench.add_argument("--flood", type=float, default=0.0, metavar="MSGS_PER_S",
                       help="also measure the engine while a separate process sends OSC at this rate (e.g. "
                            "20000), first to a socket nobody reads (the sender's own cost), then to the "
                            "engine's OSC server; the flood ratio compares the two: what handling it costs")
    bench.add_argument("--outputs", action="store_true",
                       help="also measure with the network outputs attached (--jitter streaming to a local "
                            "receiver; --ndi when cyndilib is installed)")
    bench.add_argument("--blend", action="store_true",
                       help="also measure the engine with the crossfader half-way: both decks drawn and blended "
                            "(two forward passes a frame); blend/one is its ms over one deck's")
    bench.add_argument("--live", action="store_true",
                       help="also measure the engine as a show runs it: the preview watched by a client (JPEGs "
                            "encoded, at most 30 a second) and 1,000 OSC messages a second to the engine's OSC "
                            "server from another process; live ratio = forward ms / live ms")
    bench.add_argument("--fuzz", type=int, default=0, metavar="N",
                       help="instead: run `latentvj serve` as a child process and send it N hostile OSC "
                            "datagrams; report escaped exceptions, log bytes, memory, threads, frame rate and "
                            "how it answers right after (docs/security.md)")
    bench.add_argument("--fuzz-rate", type=float, default=0.0, metavar="PER_S",
                       help="datagrams per second for --fuzz (default: as fast as this machine sends)")
    bench.add_argument("--baseline", action="store_true",
                       help="also run the single loop a user would otherwise write (python-osc, eager forward, PIL, "
                            "shared memory) at the model's own size, and the engine's speed-up over it")
    bench.add_argument("--compile", action="store_true",
                       help="also compile the model (as serve does) and measure the compiled pass against the eager "
                            "one; the engine plays the compiled one")
    bench.add_argument("--paced", type=float, default=0.0, metavar="SECONDS",
                       help="a real server at --fps (default 30): frames, interval spread and worst gap for SECONDS "
                            "on a quiet machine, with one core kept busy by another process, and that with torch's "
                            "own spinning threads")
    bench.add_argument("--fps", type=_fps, default=30.0,
                       help="with --paced or --latency: the target frame rate (default 30)")
    bench.add_argument("--max-latency-ms", type=_max_latency, default=0.0, metavar="MS",
                       help="with --paced: also the quiet and busy-core cases with serve's lookahead at MS; with "
                            "--latency: the server runs with it")
    bench.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                       help="a real server for SECONDS with a fader moving: its resident memory's growth after the "
                            "first tenth")
    bench.add_argument("--loads", type=int, default=0, metavar="N",
                       help="a real server loading the model anew N times (going round copies of it, each compiled): "
                            "its resident memory after each load and the growth per load")
    bench.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                       help="a real server: from an OSC message sent to the first frame in shared memory that shows "
                            "it, p50/p99 in ms and frame periods, over SECONDS of changes")
    bench.add_argument("--rounds", type=int, default=5,
                       help="alternating forward/engine rounds; medians over all (default: 5)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .threads import quiet_openmp

    quiet_openmp()  # before torch loads: its OpenMP threads sleep between operators instead of spinning
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:  # compiled models kept between runs, with LatentVJ's files
        from .folders import default_config_dir

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(default_config_dir() / "compiled")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was asked for, as typed (a model card records the training command)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="latentvj: %(levelname)s: %(message)s" if args.verbose else "latentvj: %(message)s")
    try:
        commands = {"serve": _serve, "models": _models, "audio-devices": _audio_devices, "bench": _bench, "train": _train, "import": _import, "encode": _encode,
                    "eval": _eval, "render": _render}
        return commands[args.command](args)
    except _CliError as exc:
        print(f"latentvj {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _user_errors() -> tuple[type[Exception], ...]:
    from latentvj.models.checkpoint import CheckpointError

    from .device import DeviceError
    from .server import ServeError
    from .outputs.shm import SharedMemoryInUseError

    return CheckpointError, DeviceError, ServeError, SharedMemoryInUseError


def _serve(args: argparse.Namespace) -> int:
    from .engine import EngineConfig
    from .server import ServeConfig, Server

    try:
        config = _serve_config(args, ServeConfig, EngineConfig)
        server = Server(config)
    except _user_errors() as exc:
        raise _CliError(str(exc)) from None
    # Signal handlers only set a flag; the render loop finishes its frame and everything is closed in order.
    handler = stop_handler(server.stop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    print(server.describe(), flush=True)
    server.freeze_heap()
    server.run()
    return 0


def _serve_config(args: argparse.Namespace, ServeConfig, EngineConfig):
    config = ServeConfig(
        model=args.model, shm=args.shm,
        engine=EngineConfig(device=args.device, precision=args.precision, fps=args.fps, size=args.size,
                            threads=args.threads, compile=args.compile == "auto",
                            max_latency=args.max_latency_ms / 1000.0),
        osc_host=args.osc_host, osc_port=args.osc_port, allow=args.allow, reply=args.reply,
        http_host=args.http_host, http_port=args.http_port, oscquery_port=args.oscquery_port, mdns=args.mdns,
        presets=None if args.no_presets else args.presets, jitter=args.jitter, ndi=args.ndi,
        spout=args.spout, syphon=args.syphon,
        allow_file_pages=args.allow_file_pages, tempo=args.tempo, bpm=args.bpm, midi_clock=args.midi_clock, midi=args.midi, midi_out=args.midi_out,
        audio=args.audio, audio_file=args.audio_file, audio_channel=args.audio_channel,
        audio_gate=args.audio_gate,
        midi_api=args.midi_api, quantise=args.quantise, walk_offset=args.walk_offset,
    )
    if args.models:
        config.model_dirs = args.models
    if args.images:
        config.image_dirs = args.images
    if args.no_routes:
        config.routes = None
    elif args.routes:
        config.routes = args.routes
    if args.recordings:
        config.recordings = args.recordings
    if args.record is not None:
        if not args.record:
            config.recordings.mkdir(parents=True, exist_ok=True)
        config.record = Path(args.record).expanduser() if args.record else config.recordings
    return config


def stop_handler(stop, *, exit=os._exit):
    """A signal handler for `serve`: the first Ctrl-C (or SIGTERM) asks for a clean stop (the frame ends,
    everything closes in order, the presets are written); a second one, while that is under way, exits at
    once (the shared memory is then left behind, and the next server replaces it)."""
    calls = [0]

    def handle(*_) -> None:
        calls[0] += 1
        if calls[0] == 1:
            stop()
            return
        sys.stderr.write("latentvj serve: stopping now (a second Ctrl-C); the shared memory is left behind\n")
        exit(130)

    return handle


def _audio_devices(args: argparse.Namespace) -> int:
    from .audio import list_inputs

    for line in list_inputs() or ["(no audio inputs)"]:
        print(line)
    return 0


def _models(args: argparse.Namespace) -> int:
    from latentvj.models.registry import DEFAULT_MODEL, list_models

    from .folders import default_config_dir

    folder = default_config_dir() / "models"
    for info in list_models([folder] if folder.is_dir() else []):
        meta = info.metadata
        if "kind" not in meta and not info.error:  # a pickle or torch.save file: its card comes when it loads
            print(f"{info.name}: {meta.get('description', '')}\n    file: {info.path}")
            continue
        default = " (default)" if info.name == DEFAULT_MODEL else ""
        print(f"{info.name}{default}: {meta.get('kind', '?')}, {meta.get('resolution', '?')} px, "
              f"latent {meta.get('latent_dim', '?')}")
        if meta.get("random_init"):
            print("    RANDOMLY INITIALISED: an untrained placeholder, not a trained model")
        for key in ("description", "data", "licence", "command"):
            if meta.get(key):
                print(f"    {key}: {meta[key]}")
        made = [f"{meta['steps']:,} steps" if isinstance(meta.get("steps"), int) else "",
                f"{meta['train_seconds'] / 60:.0f} min" if isinstance(meta.get("train_seconds"), (int, float)) else "",
                f"on {meta['device']}" if meta.get("device") else "",
                f"seed {meta['seed']}" if isinstance(meta.get("seed"), int) else "",
                f"made {meta['created'][:10]}" if isinstance(meta.get("created"), str) else ""]
        if any(made):
            print(f"    trained: {', '.join(part for part in made if part)}")
        print(f"    file: {info.path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from latentvj.models.checkpoint import CheckpointError, load_model, save_model

    out = model_out_path(args.out or re.sub(r"[^A-Za-z0-9_.-]", "-", args.file.stem))
    if out.exists() and not args.force:
        raise _CliError(f"{out} is there already; give another --out, or --force to replace it")
    try:
        model = load_model(args.file)
    except CheckpointError as exc:
        raise _CliError(str(exc)) from None
    if model.metadata.get("source") is None:
        raise _CliError(f"{args.file} is a LatentVJ model file already; nothing to import")
    metadata = dict(model.metadata, name=out.name.removesuffix(".safetensors"))
    metadata.update({key: value for key, value in (("data", args.data), ("licence", args.licence)) if value})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(out, model.network, metadata=metadata)
    config, source = model.config, model.metadata["source"]
    print(f"{args.file.name}: {source['network']} of a {source.get('generator', source['format'])}")
    style = (f", w {config.w_dim}, {model.network.num_ws} ws, "
             + (f"{config.c_dim} classes" if config.c_dim else "unconditional")) if hasattr(config, "w_dim") else ""
    print(f"    {model.kind}, {config.resolution} px, {config.channels} channels, z {config.latent_dim}{style}, "
          f"{sum(p.numel() for p in model.network.parameters()):,} parameters")
    for key in ("init_kwargs", "args"):
        if source.get(key):
            print(f"    {key}: {json.dumps(source[key], sort_keys=True)}")
    if source.get("latent_avg"):
        print(f"    w_avg: {source['latent_avg']}")
    if source.get("others"):
        print(f"    also in the file, not used: {', '.join(source['others'])}")
    print(f"wrote {out} (data: {metadata['data']}, licence: {metadata['licence']}); play it with "
          f"`latentvj serve --model {metadata['name'] if out.parent == model_out_path('x').parent else out}`")
    return 0


def card_command(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The training command as a model card records it: as anyone reruns it, with no machine's paths. The
    data folder is DATA (the card's "data" field names it), the output the model's name; with
    ``--card-command`` (``make bundled-models``) that command first."""
    argv = list(argv)
    words = argv[argv.index("train"):] if "train" in argv else ["train", args.kind, "--data", str(args.data),
                                                                 "--out", args.out]
    portable, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        option = word.split("=", 1)[0]
        if option in ("--data", "--out", "--card-command"):
            if option == "--data":
                portable += ["--data", "DATA"]
            elif option == "--out":
                portable += ["--out", Path(args.out).name.removesuffix(".safetensors")]
            skip = "=" not in word
            continue
        portable.append(word)
    command = shlex.join(["latentvj", *portable])
    return f"{args.card_command} ({command})" if args.card_command else command


def model_out_path(name: str) -> Path:
    """Where `train --out` writes: a bare name goes to the model folder, a path stays a path."""
    from .folders import default_config_dir

    if name.endswith(".safetensors") or "/" in name or "\\" in name:
        return Path(name).expanduser()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _CliError(f"--out {name!r}: a model name is letters, digits, '_', '.' and '-' (or give a path)")
    return default_config_dir() / "models" / f"{name}.safetensors"


class _ProgressBar:
    """One line on stderr, redrawn in place: step, bar, losses, images/s, time left."""

    def __init__(self, total: int, stream=None, *, label: str = "step", rate_unit: str = "img/s"):
        self.total, self.stream, self.last = total, stream or sys.stderr, 0.0
        self.label, self.rate_unit = label, rate_unit
        self.started: tuple[float, int] | None = None  # (time, step) of the first report: resumed runs too
        self.tty = self.stream.isatty()

    def __call__(self, info: dict) -> None:
        import time

        now = time.monotonic()
        step = info["step"]
        if self.started is None:
            self.started = (now, step - 1)
        if now - self.last < (0.2 if self.tty else 10.0) and step != self.total:
            return
        self.last = now
        done = step / self.total
        bar = "#" * int(24 * done) + "." * (24 - int(24 * done))
        rate = (now - self.started[0]) / max(1, step - self.started[1])
        left = int(rate * (self.total - step))
        values = " ".join(f"{k} {v:.3f}" for k, v in info.items() if k not in ("step", "steps", "images_per_s")
                          and isinstance(v, float))
        per_s = info.get("images_per_s", 1.0 / rate if rate > 0 else 0.0)
        line = (f"{self.label} {step}/{self.total} [{bar}] {values} {per_s:.0f} {self.rate_unit} "
                f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} left")
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _train(args: argparse.Namespace) -> int:
    import threading

    from latentvj.models.data import DataError, load_images

    from .device import DeviceError, pick_device

    if args.steps < 1 or args.batch < 1:
        raise _CliError("--steps and --batch must be at least 1")
    out = model_out_path(args.out)
    try:
        device = pick_device(args.device)
    except DeviceError as exc:
        raise _CliError(str(exc)) from None
    background = (0, 0, 0) if args.background == "black" else (255, 255, 255)
    try:
        images = load_images(args.data, size=args.size, background=background, limit=args.limit)
    except DataError as exc:
        raise _CliError(str(exc)) from None
    print(f"latentvj train: {len(images.images)} images from {args.data}"
          + (f" ({len(images.skipped)} unreadable files skipped)" if images.skipped else ""), file=sys.stderr)
    card = {
        "name": out.name.removesuffix(".safetensors"),
        "data": args.data_name or str(args.data),
        "licence": args.licence,
        "command": card_command(args, args.argv),
        "description": f"{args.kind.upper()} trained with `latentvj train` on {args.data_name or args.data}",
    }
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # finish the step, save, export, exit
    bar = _ProgressBar(args.steps)
    try:
        if args.kind == "gan":
            from latentvj.models.train_gan import GANTrainConfig, train_gan

            if args.beta is not None:
                raise ValueError("--beta is the VAE's KL weight; a GAN has none")
            config = GANTrainConfig(size=args.size, latent_dim=args.latent, ngf=args.width or 64,
                                    ndf=args.width or 64, padding=args.padding or "zeros",
                                    steps=args.steps, batch=args.batch, seed=args.seed,
                                    sample_every=args.sample_every, checkpoint_every=args.sample_every,
                                    device=str(device))
            path = train_gan(images, out, config, resume=args.resume, progress=bar, stop=stop, card=card)
        else:
            from latentvj.models.train_vae import VAETrainConfig, train_vae

            if args.padding is not None:
                raise ValueError("--padding is the GAN's; the VAE's decoder has no such choice")

            config = VAETrainConfig(size=args.size, latent_dim=args.latent, base=args.width or 32,
                                    steps=args.steps, batch=args.batch, seed=args.seed,
                                    beta=1.0 if args.beta is None else args.beta,
                                    sample_every=args.sample_every, checkpoint_every=args.sample_every,
                                    device=str(device))
            path = train_vae(images, out, config, resume=args.resume, progress=bar, stop=stop, card=card)
    except ValueError as exc:
        raise _CliError(str(exc)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    how = "stopped early; --resume goes on" if stop.is_set() else "done"
    play = args.out if out != Path(args.out).expanduser() else path
    print(f"latentvj train: {how}: {path}\n  play it: latentvj serve --model {play}")
    return 0


def _model_folders() -> list[Path]:
    from .folders import default_config_dir

    return [default_config_dir() / "models"]


def _encode(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    import torch

    from latentvj.models.checkpoint import CheckpointError, model_fingerprint
    from latentvj.models.encode import encode_image, load_image_for
    from latentvj.models.registry import load

    from .control.presets import Preset, PresetError, PresetStore
    from .folders import default_presets_path

    try:
        model = load(args.model, _model_folders())
        store = PresetStore(args.presets or default_presets_path())
    except (CheckpointError, PresetError) as exc:
        raise _CliError(str(exc)) from None
    for offset, path in enumerate(args.images):
        slot = args.preset + offset
        try:
            image = load_image_for(model, path)
        except (OSError, ValueError) as exc:
            raise _CliError(f"{path}: {exc}") from None
        z = encode_image(model, image, steps=args.steps)
        preset = Preset(slot=slot, model=model.name, model_id=model_fingerprint(model),
                        latent=tuple(float(v) for v in z), params={"walk/mode": "hold"},
                        stored=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        try:
            store.store(preset)
        except (OSError, PresetError) as exc:
            raise _CliError(str(exc)) from None
        with torch.no_grad():
            error = (model.render(torch.from_numpy(z)[None])[0] - image).abs().mean().item()
        print(f"{path} -> preset {slot} (mean error {error:.3f} on [-1, 1]); recall: /lvj/preset/recall {slot}")
    print(f"presets file: {store.path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from latentvj.models.checkpoint import CheckpointError
    from latentvj.models.data import DataError, load_images
    from latentvj.models.evaluate import SEAM_LIMIT, WALKS, evaluate, random_twin
    from latentvj.models.registry import load

    try:
        model = load(args.model, _model_folders())
        images = load_images(args.data, size=model.resolution)
    except (CheckpointError, DataError) as exc:
        raise _CliError(str(exc)) from None
    print(f"{model.name}: {model.kind}, {model.resolution} px, against {len(images.images)} images of {args.data}")
    print(f"{'model':>24} {'KID':>18} {'walk smoothness':>16} {'worst seam':>38}")
    for label, candidate in ((model.name, model), ("random twin", random_twin(model, seed=args.seed))):
        result = evaluate(candidate, images.images, samples=args.samples, seed=args.seed)
        parts = ", ".join(f"{name} {value:.3f}" for name, value in result.kid_parts.items())
        seam = (f"{result.seam_ratio:.2f}x at {result.seam_at} (data {result.data_seam:.2f}x)"
                + (" SEAM" if result.seam_ratio > SEAM_LIMIT else ""))
        print(f"{label:>24} {result.kid:>9.3f} ± {result.kid_std:<7.3f} {result.smoothness:>14.2f} {seam:>38}"
              + (f"   ({parts})" if parts else ""))
    print("KID: lower is closer to the data (docs/evaluation.md). Walk smoothness: largest / median "
          f"frame-to-frame change along a drift walk, the median of {WALKS} walks; near 1-3 is smooth. Worst "
          f"seam: the row or column boundary whose mean jump along those walks is largest, over the median; above "
          f"{SEAM_LIMIT:g} it is a line the model always draws there, unless the data's own ratio there (data) "
          "is as high.")
    return 0


def _render(args: argparse.Namespace) -> int:
    from .render import RenderConfig, RenderError, render

    try:
        config = RenderConfig(out=args.out, model=args.model, seconds=8.0 if args.seconds is None else args.seconds,
                              seconds_given=args.seconds is not None, fps=args.fps, walk=args.walk,
                              loops=args.loops, seed=args.seed, speed=args.speed, truncation=args.truncation,
                              size=args.size, device=args.device, precision=args.precision,
                              overwrite=args.overwrite, bpm=args.bpm, bars=args.bars, audio=args.audio,
                              routes=args.routes)
    except RenderError as exc:
        raise _CliError(str(exc)) from None
    bar = _ProgressBar(config.frames, label="frame", rate_unit="frames/s")
    try:
        result = render(config, progress=lambda done, total: bar({"step": done}))
    except (RenderError, ValueError, *_user_errors()) as exc:
        raise _CliError(str(exc)) from None
    finally:
        bar.close()
    loop = ("a seamless loop" if result.seamless
            else f"not a loop: {config.walk} does not repeat (use --walk loop, noise or keyframes)")
    bars = f" = {config.bars:g} bars at {config.bpm:g} BPM" if config.bars else ""
    routes = f", {result.routes} modulation route(s)" if result.routes else ""
    sound = f", {result.sound}" if result.sound else ""
    print(f"wrote {result.out}: {result.frames} frames, {result.width}x{result.height}, {result.fps:.6g} fps, "
          f"{result.frames / result.fps:.6g} s{bars} of '{result.model}', {loop}{routes}{sound}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    if args.fuzz:
        from .fuzz import run_fuzz

        if args.fuzz < 1 or args.fuzz_rate < 0:
            raise _CliError("--fuzz must be at least 1 and --fuzz-rate not negative")
        try:
            report = run_fuzz(args.fuzz, model=args.model, rate=args.fuzz_rate, out=sys.stdout)
        except RuntimeError as exc:
            raise _CliError(str(exc)) from None
        return 0 if report.tracebacks == 0 and report.stopped_cleanly and report.echo_ok else 1

    if args.audio_latency:
        from .bench import audio_latency

        try:
            figures = audio_latency(args.audio_latency, model=args.model, out=sys.stdout)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            raise _CliError(str(exc)) from None
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0 if figures["shown"] else 1

    from . import bench

    ahead = {"max_latency_ms": args.max_latency_ms}
    timed = [(args.soak, bench.soak, {"fps": args.fps}),
             (args.latency, bench.control_latency, {"fps": args.fps, **ahead}),
             (args.paced, bench.paced, {"fps": args.fps, **ahead})]
    for seconds, measure, options in timed:  # the modes that run a real server for SECONDS
        if seconds:
            try:
                figures = measure(seconds, model=args.model, out=sys.stdout, **options)
            except RuntimeError as exc:
                raise _CliError(str(exc)) from None
            if args.json:
                plain = [r.as_dict() for r in figures] if isinstance(figures, list) else figures
                args.json.write_text(json.dumps(plain, indent=2) + "\n")
            return 0

    if args.loads:
        try:
            figures = bench.model_loads(args.loads, model=args.model, out=sys.stdout)
        except RuntimeError as exc:
            raise _CliError(str(exc)) from None
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0

    if args.link_nodes:
        from .bench import link_nodes

        try:
            figures = link_nodes(args.link_nodes, model=args.model, out=sys.stdout)
        except RuntimeError as exc:
            raise _CliError(str(exc)) from None
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0

    if args.frames < 10 or args.rounds < 1:
        raise _CliError("--frames must be at least 10 and --rounds at least 1")
    try:
        results = run_bench(args.model, device=args.device, precision=args.precision, sizes=args.sizes,
                            frames=args.frames, rounds=args.rounds, flood=args.flood, outputs=args.outputs,
                            blend=args.blend, compile=args.compile, baseline=args.baseline, live=args.live,
                            batch=args.batch, out=sys.stdout)
    except (RuntimeError, *_user_errors()) as exc:
        raise _CliError(str(exc)) from None
    if args.json:
        args.json.write_text(json.dumps([dict(dataclasses.asdict(r), ratio=r.ratio) for r in results], indent=2)
                             + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
