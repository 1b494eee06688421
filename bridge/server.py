"""`latentvj serve`: config -> server -> start / run / stop.

The server binds its sockets first (a port in use is reported at once, before the slow model load), loads
the model, creates the shared-memory ring at the engine's output size, then runs the render loop on the
calling thread until ``stop()`` (which only sets a flag, so a signal handler may call it). Everything it
opened is closed on the way out, the shared-memory segment included.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from latentvj.models.checkpoint import CheckpointError, load_model
from latentvj.models.encode import encode_image, load_image_for
from latentvj.models.registry import DEFAULT_MODEL, load, model_names, resolve_confined

from .clock import SOURCES, MidiClock, TempoClock
from .audio import AudioFile
from .control.midi import MidiMap
from .modulation import SETS, Modulation, RouteFile, parse_route
from .control.commands import build_message
from .control.params import DECKS, PREFIX, ParamError, deck_name, is_release
from .control.state import ControlState, Live
from .device import pick_device
from .engine import Engine, EngineConfig
from .jobs import LatestJob
from .outputs import OPTIONAL_OUTPUTS, OutputError
from .control.osc import AllowList, OscProtocol, OscServer, Subscribers, clip
from .control.oscquery import OscQueryServer, websocket_osc
from .control.presets import Preset, PresetError, PresetStore
from .folders import default_config_dir, default_presets_path
from .outputs.preview import PreviewEncoder, PreviewServer
from .outputs.recorder import Recorder, RecordError, checked_path, recording_path
from .outputs.shm import ShmFrameWriter

log = logging.getLogger("latentvj.server")


@dataclass
class ServeConfig:
    model: str = DEFAULT_MODEL
    """A bundled model's name or a path to a .safetensors model file."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    allow: list[str] = field(default_factory=list)
    """Networks (CIDR) or addresses whose OSC is accepted besides loopback; "any" accepts everyone."""
    reply: list[tuple[str, int]] = field(default_factory=list)
    """Subscribed from the start: echoes, errors, periodic status (hosts that listen on a fixed port)."""
    http_host: str = "127.0.0.1"
    http_port: int = 9001
    oscquery_port: int = 9002
    mdns: bool = False
    shm: str = "latentvj"
    """Name of the shared-memory frame ring (<= 30 characters, for macOS)."""
    model_dirs: list[Path] = field(default_factory=lambda: [default_config_dir() / "models"])
    """Folders /lvj/model/load may take files from (nothing outside them)."""
    image_dirs: list[Path] = field(default_factory=lambda: [default_config_dir() / "images"])
    """Folders /lvj/encode may read images from (nothing outside them)."""
    presets: Path | None = field(default_factory=default_presets_path)
    """The presets file; None keeps no presets."""
    jitter: tuple[str, int] | None = None
    """Send frames to Max's jit.net.recv at (host, port) too."""
    ndi: str | None = None
    """Publish frames as the NDI source of this name too (needs the [ndi] extra)."""
    spout: str | None = None
    """Share frames as the Spout sender of this name too (Windows; needs the [spout] extra)."""
    syphon: str | None = None
    """Share frames as the Syphon server of this name too (macOS; needs the [syphon] extra)."""
    allow_file_pages: bool = False
    """Take OSC over the OSCQuery WebSocket from pages opened from a file (origin ``null``, which sandboxed
    frames of any web page send too)."""
    tempo: str = "internal"
    """Where the beat comes from: internal, osc, midi (needs ``midi_clock``) or link."""
    bpm: float = 120.0
    midi_clock: str | None = None
    """The MIDI input port (a name or part of one, or ``auto``) whose MIDI clock the tempo can follow."""
    midi_api: str = "auto"
    """auto, alsa, jack, coremidi or windows."""
    quantise: str = "off"
    walk_offset: float = 0.0
    """Beats this node's walks are ahead of the shared timeline (render nodes of a video wall)."""
    audio: str | None = None
    """A live audio input (a device's name or part of one, or ``auto``) whose features feed audio:... routes."""
    audio_file: Path | None = None
    """A WAV played into the audio features at its own pace instead (rehearsal, tests)."""
    audio_channel: int = 0
    audio_gate: float = -80.0
    """dBFS: quieter live audio is silence (also /lvj/audio/gate)."""
    midi_out: str | None = None
    """The MIDI output port to the controller (motorised faders, LED rings): values changed elsewhere go
    back to the controls mapped to them."""
    midi: str | None = None
    """The MIDI input port of a controller (a name or part of one, or ``auto``): CCs, notes and pitch bend
    as modulation sources, and what /lvj/midi/learn maps."""
    routes: Path | None = field(default_factory=lambda: default_config_dir() / "routes.json")
    """The modulation routes' file (read at start, written on every change); None keeps them in memory."""
    recordings: Path = field(default_factory=lambda: default_config_dir() / "recordings")
    """Where /lvj/record/start writes its takes (made when first used)."""
    record: Path | None = None
    """Record from the first frame into this file (.mp4 or .mov); a folder: a take named by the time in it."""

    def __post_init__(self) -> None:
        if self.tempo not in SOURCES:
            raise ServeError(f"--tempo must be one of {', '.join(SOURCES)}, got {self.tempo!r}")
        if self.tempo == "midi" and not self.midi_clock:
            raise ServeError("--tempo midi needs the MIDI port to follow: --midi-clock PORT (or auto)")


def confined_file(name: str, folders: list[Path]) -> Path:
    """A file named over the network, relative to one of ``folders`` and inside it (no absolute paths,
    no '..', no links leading out)."""
    relative = Path(name)
    if relative.is_absolute() or relative.drive or ".." in relative.parts:
        raise ValueError("give a file name inside the image folders, not an absolute path or one with '..'")
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        try:
            candidate = (root / relative).resolve()
            found = candidate.is_relative_to(root) and candidate.is_file()
        except (OSError, RuntimeError):  # a name too long, a loop of links
            found = False
        if found:
            return candidate
    raise ValueError(f"no such file in the image folders ({', '.join(str(f) for f in folders)})")


class ServeError(RuntimeError):
    """Something the user can fix (a port in use, a bad address); the message says what."""


def _bind(what: str, host: str, port: int, option: str, make):
    try:
        return make()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{what} port {port} on {host} is already in use (another latentvj serve?); "
                             f"pick another with {option}") from None
        raise ServeError(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}") from None


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _check_exposure(config: ServeConfig) -> None:
    """One rule for every listener: one that other machines can reach needs --allow saying which."""
    for option, host in (("--osc-host", config.osc_host), ("--http-host", config.http_host)):
        if not _is_loopback(host) and not config.allow:
            raise ServeError(
                f"{option} {host} accepts connections from other machines: say which with --allow (e.g. "
                "--allow 192.168.1.0/24, repeatable), or --allow any to accept everyone on the network")


class Server:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.control = ControlState()
        for name, value, option in (("tempo/bpm", float(config.bpm), "--bpm"), ("quantise", config.quantise, "--quantise"),
                                    ("walk/offset", float(config.walk_offset), "--walk-offset"),
                                    ("tempo/source", config.tempo, "--tempo"),
                                    ("audio/gate", float(config.audio_gate), "--audio-gate")):
            try:
                self.control.set(name, self.control.registry[name].coerce([value]))
            except ParamError as exc:
                raise ServeError(f"{option}: {exc}") from None
        self.music = TempoClock(bpm=config.bpm)
        self.modulation = Modulation()
        self.midi_map = MidiMap(self.control.registry, selected=lambda: self.control.selected,
                                current=lambda address: self.control.get(self.control.registry.find(address)[0].name))
        self._route_file = RouteFile(config.routes) if config.routes is not None else None
        if self._route_file is not None:
            try:
                routes, mappings = self._route_file.read()
            except ValueError as exc:
                raise ServeError(f"{exc} (fix it, move it away, or start with --no-routes)") from None
            self.modulation.replace(routes)
            self.midi_map.replace(mappings)
        self.control.set("mod/routes", _routes_text(self.modulation.routes))
        self.control.set("midi/map", "\n".join(m.describe() for m in self.midi_map.mappings))
        self._sources: dict[str, object] = {}  # the MIDI clock and the Link session, opened when first asked
        self._ports_listed: tuple[float, list[str]] = (float("-inf"), [])  # (when, the MIDI input ports)
        self._stop = threading.Event()
        self.heap_frozen = threading.Event()
        """Set once the heap is frozen (:meth:`_freeze_heap`)."""
        self._resources = contextlib.ExitStack()
        pick_device(config.engine.device)  # a device that is not there is reported before anything starts
        _check_exposure(config)
        try:
            allow = AllowList(config.allow)
        except ValueError as exc:
            raise ServeError(f"--allow: {exc}") from None
        presets = None
        if config.presets is not None:
            try:
                presets = PresetStore(config.presets)
            except PresetError as exc:
                raise ServeError(str(exc)) from None
        try:
            # Slow requests: one owned worker each, the newest request first (a burst is answered, never
            # multiplied); they are commands of the one command path.
            # A model loader per deck (a load onto A never supersedes one onto B).
            self.loads = {deck: LatestJob(f"model-load-{deck}", lambda request: self._load_model(*request),
                                          superseded=lambda old, new: self._superseded("/lvj/model/load", old, new))
                          for deck in DECKS}
            self.encodes = LatestJob("encode", lambda request: self._encode(*request),
                                     superseded=lambda old, new: self._superseded("/lvj/encode", old, new))
            self.route_writes = LatestJob("routes-write", self._write_routes)
            self.modulation.on_change = self._routes_changed
            self.midi_map.on_change = self._routes_changed
            for job in (*self.loads.values(), self.encodes, self.route_writes):
                job.start()
                self._resources.callback(job.stop)
            self.subscribers = Subscribers(config.reply)
            self.protocol = OscProtocol(
                self.control, status=self.status, subscribers=self.subscribers,
                models=lambda: model_names(config.model_dirs), live=self._live,
                commands={
                    "model/load": lambda name, sender, deck: self.loads[deck].submit((name, deck, False, sender)),
                    "model/blend": self._blend,
                    "encode": lambda value, sender, deck: self.encodes.submit((*value, deck, sender)),
                    "tempo/tap": lambda value, sender: self._tempo_told(self.music.tap(), sender),
                    "tempo/beat": lambda value, sender: self._tempo_told(self.music.beat_now(), sender),
                    "tempo/bar": lambda value, sender: self.music.bar_now(),
                    "mod/route": lambda args, sender: self.modulation.add(
                        parse_route(args, selected=self.control.selected)),
                    "mod/remove": lambda target, sender: self._removed(target, sender),
                    "mod/list": lambda value, sender: [
                        (build_message(f"{PREFIX}/mod/route", r.describe()), sender) for r in self.modulation.routes],
                    "mod/load": lambda name, sender: self.modulation.replace(
                        parse_route(line.split(), selected=self.control.selected) for line in SETS[name]),
                    "mod/source/NAME": lambda value, sender, name: self.modulation.set_input(name, value),
                    "midi/learn": self._learn,
                    "midi/forget": lambda address, sender: self._forget(address, sender),
                    "midi/ports": lambda value, sender: [(build_message(f"{PREFIX}/midi/ports", *self._ports()),
                                                          sender)],
                    "record/start": self._record_start,
                    "record/stop": self._record_stop,
                })
            self.osc = _bind("OSC", config.osc_host, config.osc_port, "--osc-port",
                             lambda: OscServer(self.protocol, host=config.osc_host, port=config.osc_port,
                                               allow=allow))
            self._resources.callback(self.osc.stop)
            self.encoder = PreviewEncoder()
            self.preview = _bind("HTTP preview", config.http_host, config.http_port, "--http-port",
                                 lambda: PreviewServer(self.encoder, self.status, host=config.http_host,
                                                       port=config.http_port, allow=allow))
            self._resources.callback(self.preview.stop)
            self.oscquery = _bind("OSCQuery", config.http_host, config.oscquery_port, "--oscquery-port",
                                  lambda: OscQueryServer(self.control, host=config.http_host,
                                                         port=config.oscquery_port, osc_host=config.osc_host,
                                                         osc_port=self.osc.address[1], mdns=config.mdns,
                                                         on_osc=websocket_osc(self.protocol, send=self.osc.send),
                                                         allow=allow, allow_file_pages=config.allow_file_pages,
                                                         live=self._live))
            self._resources.callback(self.oscquery.stop)
            model = load(config.model, config.model_dirs)
            self.engine = Engine(model, config=config.engine, control=self.control, presets=presets,
                                 report=self.report, on_resize=self._resize, music=self.music,
                                 tempo_source=self._tempo_source, on_pulse=self._pulse,
                                 modulation=self.modulation)
            self.engine.renderer.keep(self.engine.prepared)  # resident: switching back to it is instant
            self._resources.callback(self.engine.close)  # last: the presets are written after the loop ends
            self.shm = ShmFrameWriter(config.shm, self.engine.width, self.engine.height,
                                      channels=self.engine.channels)
            self._resources.callback(lambda: self.shm.close())
            if config.midi:
                from .control.midi import MidiInput

                try:
                    port = MidiInput(config.midi, self._midi_message, api=config.midi_api)
                except RuntimeError as exc:  # MidiError: no such port, no rtmidi
                    raise ServeError(f"--midi {config.midi}: {exc}") from None
                self._resources.callback(port.close)
                self._sources["controller"] = port
            if config.audio or config.audio_file:
                from .audio import AudioError, AudioFile, AudioInput

                try:
                    if config.audio_file is not None:
                        self.audio = AudioFile(config.audio_file, self.modulation.set_audio)
                    else:
                        self.audio = AudioInput(config.audio, self.modulation.set_audio,
                                                channel=config.audio_channel)
                except (AudioError, ValueError) as exc:
                    raise ServeError(f"--audio: {exc}") from None
                self._resources.callback(self.audio.close)
                features = self.audio.features
                features.set_gate(self.control.get("audio/gate"))
                self.control.listen(lambda change: features.set_gate(change.value)
                                    if change.name == "audio/gate" else None)
            try:  # after the audio: --tempo audio follows it
                self.music.set_source(config.tempo, self._tempo_source(config.tempo))
            except (OSError, RuntimeError, ValueError) as exc:
                raise ServeError(f"--tempo {config.tempo}: {exc}") from None
            if config.midi_out:
                from .control.midi import MidiOutput

                try:
                    out = MidiOutput(config.midi_out, api=config.midi_api)
                except RuntimeError as exc:
                    raise ServeError(f"--midi-out {config.midi_out}: {exc}") from None
                self._resources.callback(out.close)
                self.control.listen(lambda change: self._midi_feedback(out, change))
            self.outputs = self._open_outputs()
            self.recorder = Recorder(config.recordings, config.engine.fps,
                                     report=lambda text: self.report("/lvj/record/start", text, None),
                                     on_file=lambda path: self.control.set("record/file", str(path or "")),
                                     warn=lambda text: self.report("/lvj/record/start", text, None, warning=True))
            self._resources.callback(self.recorder.close)  # before the engine's close: the loop has ended
            if config.record is not None:
                try:
                    self.recorder.start(self._record_path(config.record))
                except RecordError as exc:
                    raise ServeError(f"--record: {exc}") from None
            self.engine.sinks = self._sinks()
        except BaseException:
            self._resources.close()
            raise

    def _open_outputs(self) -> dict:
        """The optional outputs asked for (rows of OPTIONAL_OUTPUTS), each a frame sink with its own thread
        (started by run())."""
        outputs = {}
        for kind in OPTIONAL_OUTPUTS:
            asked = getattr(self.config, kind.name)
            if asked:
                try:
                    outputs[kind.name] = kind.open(asked, self.config.engine.fps)
                except OutputError as exc:
                    raise ServeError(f"{kind.option}: {exc}") from None
                self._resources.callback(outputs[kind.name].stop)
        return outputs

    def status(self) -> dict:
        engine = getattr(self, "engine", None)
        status = engine.status() if engine else {"model": self.config.model, "frame": 0}
        status.update(
            shm=self.config.shm,
            osc=f"{self.osc.address[0]}:{self.osc.address[1]}",
            preview=self.preview.url,
            oscquery=self.oscquery.url if hasattr(self, "oscquery") else "",
            oscquery_port=self.oscquery.address[1] if hasattr(self, "oscquery") else 0,
            preset=self.control.get("preset/current"),
            subscribers=len(self.subscribers),
            osc_errors=self.protocol.errors,
            osc_dropped=self.osc.dropped,
            osc_received=self.osc.received,
            osc_coalesced=self.osc.inbox.coalesced,
            osc_overflowed=self.osc.inbox.overflowed,
            osc_scheduled=len(self.protocol.schedule),
        )
        for name, output in getattr(self, "outputs", {}).items():
            status[name] = output.status()
        if hasattr(self, "recorder"):
            status["record"] = self.recorder.status()
            take = self.recorder.take  # the /lvj/status message's two fields: the file while recording, its length
            status["recording"] = str(take.path) if self.recorder.recording else ""
            status["recorded_s"] = round(take.seconds, 3) if self.recorder.recording else 0.0
        audio = getattr(self, "audio", None)
        if audio is not None:
            status["audio"] = {"from": str(getattr(audio, "path", getattr(audio, "name", ""))),
                               "onsets": len(audio.features.onsets),
                               "last_onsets": [round(t, 4) for t in audio.features.onsets[-8:]],
                               **{name: round(v, 4) for name, v in audio.features.values.items()}}
        return status

    def report(self, address: str, reason: str, source: tuple[str, int] | None, *,
               warning: bool = False) -> None:
        """A control that could not be applied (from the engine or a loader): /lvj/error to whoever asked
        and to the subscribers, and a log line, through the OSC protocol's error path (so a burst of them
        is summarised, not flooded). ``warning``: applied, but not as asked (/lvj/warning)."""
        for message, target in self.protocol.error_replies(source, address, reason, warning=warning):
            self.osc.send(message, target)

    def _live(self) -> list[Live]:
        """OSCQuery's nodes that move every frame: what the last frame drew of each routed parameter
        (/lvj/mod/value/..., none while no route is made) and the live audio's features
        (/lvj/audio/feature/..., with --audio or --audio-file)."""
        nodes = []
        if self.modulation.routes:
            for target, value in sorted(self.modulation.last.items()):
                low, high = self.control.registry[target].range
                nodes.append(Live(f"{PREFIX}/mod/value/{target}", value, low, high,
                                  f"What is drawn of {PREFIX}/{target} this frame: the value set plus its routes"))
        audio = getattr(self, "audio", None)
        if audio is not None:
            for feature, value in audio.features.values.items():
                nodes.append(Live(f"{PREFIX}/audio/feature/{feature}", value, 0.0, 1.0,
                                  f"The live audio's {feature} now, 0..1 (the source audio:{feature})"))
        return nodes

    def _ports(self) -> list[str]:
        """The MIDI input ports, listed at most once per PORTS_FRESH_S."""
        when, ports = self._ports_listed
        if time.monotonic() - when >= PORTS_FRESH_S:
            self._ports_listed = (time.monotonic(), ports := _midi_ports())
        return ports

    def _tempo_source(self, name: str):
        """What the clock follows for tempo/source ``name``, opened the first time it is asked for; raises
        (MidiError, LinkError, ValueError) saying why it cannot be had."""
        if name in ("internal", "osc"):
            return None
        if name not in self._sources:
            if name == "audio":
                if getattr(self, "audio", None) is None:
                    raise ValueError("the beat of the audio needs a sound: start the server with --audio "
                                     "DEVICE or --audio-file FILE.wav")
                from .audio import AudioTempo

                self._sources[name] = AudioTempo(self.audio.features)
            elif name == "midi":
                if not self.config.midi_clock:
                    raise ValueError("no MIDI clock port: start the server with --midi-clock PORT (or auto)")
                from .control.midi import MidiInput

                clock = MidiClock()
                port = MidiInput(self.config.midi_clock, clock.feed, api=self.config.midi_api)
                self._resources.callback(port.close)
                clock.port = port.name
                self._sources[name] = clock
            else:
                if self.config.tempo != "link":
                    # Link multicasts on every network interface: only when the server was started for it,
                    # never because a packet asked.
                    raise ValueError("Ableton Link joins the network's session only when the server is "
                                     "started with --link (or --tempo link)")
                from .link import LinkSession

                session = LinkSession(self.music.bpm)
                self._resources.callback(session.close)
                self._sources[name] = session
        return self._sources[name]

    def _routes_changed(self, _=None) -> None:
        """Echo the routes and the MIDI map (/lvj/mod/routes, /lvj/midi/map) and have their file written, on
        its own worker (latest wins)."""
        routes, mappings = self.modulation.routes, list(self.midi_map.mappings)
        self.control.set("mod/routes", _routes_text(routes))
        self.control.set("midi/map", "\n".join(m.describe() for m in mappings))
        if self._route_file is not None:
            self.route_writes.submit((routes, mappings))

    def _write_routes(self, both) -> None:
        try:
            self._route_file.write(*both)
        except OSError as exc:
            self.report("/lvj/mod/route", f"could not write the routes file {self._route_file.path}: {exc}", None)

    def _removed(self, target: str, sender) -> None:
        if not self.modulation.remove(target, selected=self.control.selected):
            self.report("/lvj/mod/remove", f"no route to {clip(target)}", sender, warning=True)

    def _learn(self, args, sender) -> None:
        if "controller" not in self._sources:
            raise ParamError("MIDI learn needs a controller: start the server with --midi PORT (or auto)")
        try:
            address = self.midi_map.learn(args)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
        log.info("MIDI learn: move a control to map it to %s", address)

    def _forget(self, address: str, sender) -> None:
        try:
            gone = self.midi_map.forget(address)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
        if not gone:
            self.report("/lvj/midi/forget", f"no MIDI mapping to {clip(address)}", sender, warning=True)

    def _midi_message(self, data: bytes, when: float) -> None:
        """A controller's message (rtmidi's thread): the modulation's MIDI inputs, then each mapping's OSC
        message through the one command path (its errors and echoes go to the subscribers)."""
        sends = self.midi_map.feed(data)
        self.modulation.set_midi(self.midi_map.inputs)
        for address, args in sends:
            for message, target in self.protocol.commands.call(address, args, MIDI_SENDER):
                if target != MIDI_SENDER:
                    self.osc.send(message, target)

    def _midi_feedback(self, out, change) -> None:
        """A change made elsewhere (OSC, a preset, the engine) shown on the controller; never its own."""
        if change.source == MIDI_SENDER or change.index is not None:
            return
        for data in self.midi_map.feedback(f"{PREFIX}/{change.name}", change.value):
            out.send(data)

    def _tempo_told(self, bpm: float | None, sender) -> None:
        """A tap or an OSC beat set the tempo: echo it like any other change."""
        if bpm is not None:
            self.control.set("tempo/bpm", round(bpm, 3), source=sender)

    def _pulse(self, kind: str, number: int) -> None:
        """/lvj/tempo/beat i or /lvj/tempo/bar i to every subscriber (tempo/pulse)."""
        message = build_message(f"{PREFIX}/tempo/{kind}", number)
        for target in self.subscribers:
            self.osc.send(message, target)

    def _blend(self, name: str, sender) -> None:
        """/lvj/model/blend: load onto the deck the crossfader is away from, then cross to it."""
        hidden = "b" if self.engine.status()["crossfade"] < 0.5 else "a"
        self.loads[hidden].submit((name, hidden, True, sender))

    def _superseded(self, address: str, old: tuple, new: tuple) -> None:
        self.report(address, f"{clip(str(old[0]))}: not done: a later request ({clip(str(new[0]))}) came "
                    "before it began", old[-1])

    def _encode(self, name: str, slot: int, deck: str, source) -> None:
        """Encode an image from the image folders into a preset for a deck's model, on the encode worker."""
        engine = self.engine
        try:
            if engine.presets is None:
                raise ValueError("presets are off (no presets file)")
            path = confined_file(name, self.config.image_dirs)
            playing = engine.decks[deck].prepared
            # The encode (a latent optimisation with autograd for a GAN) runs on its own copy of the network,
            # read from the model file, on the CPU: never on the network that plays, never on its device.
            model = load_model(playing.model.path)
            latent = encode_image(model, load_image_for(model, path))
            engine.presets.store(Preset(slot=slot, model=model.name, model_id=playing.id,
                                        latent=tuple(float(v) for v in latent), params={"walk/mode": "hold"},
                                        stored=datetime.now(timezone.utc).isoformat(timespec="seconds")))
        except (OSError, ValueError) as exc:  # PresetError and a bad image are ValueErrors
            self.report("/lvj/encode", f"{clip(name)}: {exc}", source)
            return
        except Exception as exc:  # a picture that is a decompression bomb, out of memory...: say so
            log.exception("encoding %r failed", name)
            self.report("/lvj/encode", f"{clip(name)}: {type(exc).__name__}: {exc}", source)
            return
        log.info("encoded %s into preset %d", path, slot)
        self.control.set(deck_name(deck, "preset/current"), slot)

    def _load_model(self, name: str, deck: str, cross: bool, source) -> None:
        """Load in the background while the current model plays on; swap at a frame boundary. The last
        few models stay resident in the renderer, so switching back to one of them is instant."""
        try:
            prepared, fresh = self.engine.renderer.load(resolve_confined(name, self.config.model_dirs))
            model = prepared.model
        except CheckpointError as exc:
            self.report("/lvj/model/load", clip(str(exc), 600), source)
            return
        except Exception as exc:  # out of memory, a device error...: report, keep playing the old model
            log.exception("loading model %r failed", name)
            self.report("/lvj/model/load", f"{type(exc).__name__}: {exc}", source)
            return
        (log.info if fresh else log.debug)("model %r loaded; deck %s plays it from the next frame%s",
                                           model.name, deck.upper(), " (crossing to it)" if cross else "")
        self.engine.swap_model(prepared, deck=deck, cross=cross)

    def _resize(self, width: int, height: int, channels: int) -> None:
        """On the render thread: a new ring at the new size or channel count, made before the old one goes
        (readers see the old one close and re-attach); when it cannot be made, this raises and the old ring
        plays on."""
        self.shm = self.shm.reshaped(width, height, channels=channels)
        self.engine.sinks = self._sinks()

    def _sinks(self) -> list:
        """Where every frame goes: shared memory, the preview, the network outputs and the recorder."""
        return [self.shm, self.encoder, *self.outputs.values(), self.recorder]

    def _record_path(self, path: Path) -> Path:
        """--record's path: a file, or a folder to name a take in."""
        if path.is_dir():
            return recording_path(None, path)
        return checked_path(path)

    def _record_start(self, args: list, sender) -> list:
        """/lvj/record/start [FILE]: a take into the recordings folder (a pulse's 1 names none, its 0 is a
        button's release); replies /lvj/record/file with the file."""
        if is_release(args):
            return []
        named = args[0] if args and isinstance(args[0], str) else None
        if len(args) > 1:
            raise ParamError(f"expected no argument, or a file name (.mp4 or .mov); got {len(args)} arguments")
        try:
            self.config.recordings.mkdir(parents=True, exist_ok=True)
            take = self.recorder.start(recording_path(named, self.config.recordings))
        except (RecordError, OSError) as exc:
            raise ParamError(str(exc)) from None
        return [(build_message(f"{PREFIX}/record/file", str(take.path)), sender)]

    def _record_stop(self, value, sender) -> list:
        """/lvj/record/stop: replies /lvj/record/file with the file being finished."""
        take = self.recorder.stop()
        if take is None:
            raise ParamError("nothing is being recorded")
        return [(build_message(f"{PREFIX}/record/file", str(take.path)), sender)]

    def describe(self) -> str:
        s = self.engine.status()
        note = "  (untrained placeholder: random weights)" if s["random_init"] else ""
        presets = self.engine.presets.path if self.engine.presets else "off"
        return "\n".join([
            f"LatentVJ serving '{s['model']}' ({s['kind']}){note}",
            f"  device:   {s['device']} ({s['precision']}), target {s['target_fps']:g} fps",
            f"  frames:   shared memory '{self.config.shm}', {s['width']}x{s['height']} RGB8, top row first"
            f" (read with latentvj.plugin.shmring)",
            f"  preview:  {self.preview.url}",
            f"  OSC:      udp {self.osc.address[0]}:{self.osc.address[1]} (send /lvj/status for a reply;"
            f" addresses in docs/osc.md)",
            f"  OSCQuery: {self.oscquery.url}",
            f"  presets:  {presets}",
            f"  routes:   {self._routes_line()}",
            f"  tempo:    {self._tempo_line()}",
            *[f"  {kind.label + ':':<9} {kind.banner(self.outputs[kind.name], getattr(self.config, kind.name))}"
              for kind in OPTIONAL_OUTPUTS if kind.name in self.outputs],
            f"  record:   {self._record_line()}",
            "Ctrl-C to stop.",
        ])

    def _record_line(self) -> str:
        take = self.recorder.take
        if self.recorder.recording:
            return f"recording to {take.path}"
        return f"off (/lvj/record/start writes into {self.config.recordings})"

    def _routes_line(self) -> str:
        count = len(self.modulation.routes)
        where = self._route_file.path if self._route_file is not None else "not kept"
        return f"{count} modulation route{'s' if count != 1 else ''} ({where})"

    def _tempo_line(self) -> str:
        clock = self.music
        line = f"{clock.bpm:g} BPM, {clock.source}"
        if clock.source == "midi":
            line += f" clock from {getattr(self._sources.get('midi'), 'port', '?')}"
        if clock.source == "link":
            line += " (Ableton Link session on every network interface)"
        quantise = self.control.get("quantise")
        return line + (f", changes quantised to the {quantise}" if quantise != "off" else "")

    def run(self) -> None:
        """Serve until :meth:`stop`; closes everything on the way out."""
        with self._resources:
            self.engine.warm_up()
            for target in self.config.reply:  # as /lvj/subscribe does: every current value at once
                for message in self.protocol.dump():
                    self.osc.send(message, target)
            self.osc.start()
            self.preview.start()
            self.oscquery.start()
            for output in self.outputs.values():
                output.start()
            if isinstance(getattr(self, "audio", None), AudioFile):
                self.audio.start()
            log.info("rendering")
            self.engine.run(self._stop)
            log.info("stopping after %d frames", self.engine.frames)

    def freeze_heap(self) -> None:
        """For the process that serves (``latentvj serve``; it freezes the whole process): once the first
        model has compiled (at once when none compiles), on a thread of its own, move every object alive
        into Python's permanent generation (``gc.freeze``), so that later full collections look only at
        what came after. A full collection holds the interpreter lock throughout, the render thread's
        included, and over the half a million objects torch and its compiler leave it took 270-310 ms: a
        frozen output once or twice for every model loaded during a show. After, 16-30 ms
        (docs/performance.md). Not collected first, which would be that stall once more: what is garbage
        then stays, once."""

        def freeze() -> None:
            fast = self.engine.prepared.fast
            if fast.state == "compiling":
                fast.done.wait()
            gc.freeze()
            self.heap_frozen.set()

        threading.Thread(target=freeze, name="heap-freeze", daemon=True).start()

    def stop(self) -> None:
        """Ask the render loop to finish its frame and return. Safe to call from a signal handler."""
        self._stop.set()

    def close(self) -> None:
        """Release sockets and shared memory of a server that was never run."""
        self._resources.close()


def _routes_text(routes) -> str:
    """The routes as /lvj/mod/routes says them: one per line, in the words /lvj/mod/route takes."""
    return "\n".join(route.describe() for route in routes)


MIDI_SENDER = ("midi", 0)
"""Who a MIDI mapping's message comes from, for the command path (its replies go to the subscribers)."""


PORTS_FRESH_S = 1.0
"""How long a listing of MIDI ports answers /lvj/midi/ports again: asking the MIDI systems takes milliseconds
on the OSC thread (and their libraries print to stderr), so a flood of asks costs one listing a second."""


def _midi_ports() -> list[str]:
    from .control.midi import MidiError, list_ports

    try:
        return list_ports()
    except MidiError as exc:
        return [str(exc)]
    try:
        ports = list_ports()
    except MidiError as exc:
        ports = [str(exc)]
    _ports_listed = (time.monotonic(), ports)
    return ports