"""The one typed registry of everything a performer can change.

OSC, the generated reference (docs/osc.md), presets and OSCQuery all read from here: a parameter that is
not in this registry does not exist anywhere else. Each parameter knows its OSC type, range or choices,
default, unit and description, and turns incoming OSC arguments into a validated value or a
:class:`ParamError` whose message says what was expected and what came.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Sequence

PREFIX = "/lvj"

WALK_MODES = ("drift", "loop", "noise", "keyframes", "hold")
WALK_SPACES = ("z", "w")
MIX_LAYERS = ("coarse", "middle", "fine")
"""The layer groups a style mix can replace (models/kinds.py says which layers each is)."""
STYLEGAN_PARAMS = ("walk/space", "noise", "style/seed", "style/layers", "style/mix", "sg3/translate", "sg3/rotate",
                   "class")
"""The deck parameters only a StyleGAN model takes."""


class ParamError(ValueError):
    """An OSC value that a parameter cannot take; the message is sent back to the controller as is."""


@dataclass(frozen=True)
class Param:
    name: str
    """Address below the prefix, e.g. ``walk/speed`` for ``/lvj/walk/speed``."""
    type: str
    """OSC type tag(s) of the value: ``f`` float, ``i`` int, ``s`` string, ``T`` boolean (0/1/T/F),
    ``ii`` two ints, ``ff`` two floats, ``si`` a string and an int, ``I`` an impulse (a trigger or a query: no argument, or one non-zero argument, as a
    TouchDesigner pulse or a Max bang sends it), ``f*`` one float per latent dimension."""
    default: Any
    description: str
    range: tuple[float, float] | None = None
    """Inclusive bounds of each number (``f``, ``i``, ``ii``, ``f*``)."""
    choices: tuple[str, ...] | None = None
    """Allowed values of an ``s`` parameter."""
    unit: str = ""
    smooth: bool = False
    """Changes glide over the smoothing time (``/lvj/smoothing``) instead of applying at once."""
    access: str = "rw"
    """``rw`` a value you can set and read back; ``w`` a trigger or command (nothing to read back);
    ``r`` a value only LatentVJ sets (you can read it and be told when it changes)."""
    deck: str | None = None
    """For a deck's own parameter: ``"*"`` on the address without a deck (``/lvj/walk/speed``: the selected
    deck's, see ``/lvj/deck``), or the deck (``"a"``) on a deck-qualified copy (``/lvj/deck/a/walk/speed``).
    None for the parameters of the whole output (fade, size, crossfade...)."""

    def __post_init__(self) -> None:
        if self.type not in ("f", "i", "s", "T", "ii", "ff", "I", "f*", "si"):
            raise ValueError(f"{self.name}: unknown OSC type {self.type!r}")
        if self.type in ("f", "i", "ii", "ff", "f*") and self.range is None:
            raise ValueError(f"{self.name}: numeric parameters need a range")
        if self.access not in ("rw", "w", "r"):
            raise ValueError(f"{self.name}: access must be rw, w or r")
        # The default must itself be a valid value, so a registry typo fails at import, not on stage.
        if self.default is not None:
            self.coerce(list(self.default) if self.type in ("ii", "ff", "f*") else [self.default])

    @property
    def address(self) -> str:
        return f"{PREFIX}/{self.name}"

    @property
    def trigger(self) -> bool:
        return self.type == "I"

    def coerce(self, args: Sequence[Any], *, size: int | None = None) -> Any:
        """Turn the arguments of one OSC message into this parameter's value, or raise ParamError.
        ``size`` is the number of floats an ``f*`` parameter takes (the model's latent size)."""
        if self.type == "I":
            if len(args) > 1:
                raise ParamError(f"expected no argument or one (a pulse), got {len(args)}")
            return True  # callers skip a pulse whose only argument is 0 (a button's release): see is_release
        if self.type == "si":
            if len(args) != 2:
                raise ParamError(f"expected 2 arguments (a string and an int in [{number_text(self.range[0])}, "
                                 f"{number_text(self.range[1])}]), got {len(args)}")
            if not isinstance(args[0], str) or not args[0].strip():
                raise ParamError(f"expected a file name first, got {_describe(args[0])}")
            return args[0].strip(), self._scalar(args[1], "i")
        if self.type in ("ii", "ff", "f*"):
            if len(args) == 1 and isinstance(args[0], list):
                args = args[0]  # the numbers sent as one OSC array ([ffff...])
            count = 2 if self.type in ("ii", "ff") else size
            if count is not None and len(args) != count:
                raise ParamError(f"expected {count} numbers ({self._expected()}), got {len(args)}")
            values = tuple(self._scalar(arg, "i" if self.type == "ii" else "f") for arg in args)
            return values
        if len(args) != 1:
            raise ParamError(f"expected 1 argument ({self._expected()}), got {len(args)}")
        return self._scalar(args[0], self.type)

    def _scalar(self, arg: Any, tag: str) -> Any:
        if tag == "T":
            value = _boolean(arg)
            if value is None:
                raise ParamError(f"expected a boolean (0/1/T/F), got {arg!r}")
            return value
        if tag == "s":
            if not isinstance(arg, str):
                raise ParamError(f"expected a string ({self._expected()}), got {_describe(arg)}")
            value = arg.strip().lower() if self.choices else arg
            if self.choices and value not in self.choices:
                raise ParamError(f"expected one of {', '.join(self.choices)}, got {arg!r}")
            return value
        # OSC senders disagree about ints and floats (Max sends ints for whole numbers, TouchDesigner
        # sends floats for everything), so both are accepted wherever a number is expected.
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            raise ParamError(f"expected a number ({self._expected()}), got {_describe(arg)}")
        if isinstance(arg, float) and not math.isfinite(arg):
            raise ParamError(f"expected a finite number ({self._expected()}), got {arg}")
        if tag == "i":
            if arg != int(arg):
                raise ParamError(f"expected an integer ({self._expected()}), got {arg!r}")
            value: float = int(arg)
        else:
            value = float(arg)
        lo, hi = self.range
        if not lo <= value <= hi:
            raise ParamError(f"{number_text(value)} is out of range [{number_text(lo)}, {number_text(hi)}]")
        return value

    def _expected(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        if self.range:
            kind = {"f": "float", "i": "int", "ii": "ints", "ff": "floats", "f*": "floats",
                    "si": "file, slot"}[self.type]
            return f"{kind} in [{number_text(self.range[0])}, {number_text(self.range[1])}]"
        return {"s": "string", "T": "0/1/T/F", "I": "pulse"}[self.type]


def is_release(args: Sequence[Any]) -> bool:
    """A pulse whose only argument is 0 or false: the release of a momentary button, not a trigger."""
    return len(args) == 1 and not isinstance(args[0], str) and args[0] in (0, False)


def number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) >= 1e6 else f"{x:g}"


def _boolean(arg: Any) -> bool | None:
    if isinstance(arg, bool):
        return arg
    if isinstance(arg, (int, float)) and arg in (0, 1):
        return bool(arg)
    if isinstance(arg, str) and arg.strip().lower() in ("0", "1", "t", "f", "true", "false"):
        return arg.strip().lower() in ("1", "t", "true")
    return None


def _describe(arg: Any) -> str:
    if isinstance(arg, bool):
        return f"boolean {arg}"
    if isinstance(arg, (bytes, bytearray)):
        return f"a blob of {len(arg)} bytes"
    if isinstance(arg, list):
        return f"an array of {len(arg)} values"
    text = repr(arg)
    return f"{type(arg).__name__} {text if len(text) <= 80 else text[:80] + '...'}"


class Registry:
    """An ordered, read-only collection of parameters, looked up by name or by OSC address."""

    def __init__(self, params: Iterable[Param]):
        self._params: dict[str, Param] = {}
        for param in params:
            if param.name in self._params:
                raise ValueError(f"parameter {param.name!r} is declared twice")
            self._params[param.name] = param

    def __iter__(self) -> Iterator[Param]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def find(self, address: str) -> tuple[Param, int | str | None] | None:
        """The parameter behind an OSC address, and the index for an indexed one (``z/5`` is ``z/N``
        with index 5; ``mod/source/knee`` is ``mod/source/NAME`` with the name ``knee``); the leading slash
        and the prefix are optional."""
        name = address_to_name(address)
        param = self._params.get(name)
        if param is not None:
            return param, None
        head, _, tail = name.rpartition("/")
        # ASCII digits only: str.isdigit() is also true of "²", which int() refuses.
        if tail.isascii() and tail.isdigit() and len(tail) <= 9 and f"{head}/N" in self._params:
            return self._params[f"{head}/N"], int(tail)
        if f"{head}/NAME" in self._params and _NAME.fullmatch(tail):
            return self._params[f"{head}/NAME"], tail
        return None

    def defaults(self) -> dict[str, Any]:
        """The starting value of every parameter that holds one (triggers hold none)."""
        return {p.name: p.default for p in self if not p.trigger}


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def address_to_name(address: str) -> str:
    """``/lvj/walk/speed``, ``lvj/walk/speed`` and ``walk/speed`` all name ``walk/speed``."""
    name = address.strip("/")
    prefix = PREFIX.strip("/") + "/"
    return name[len(prefix):] if name.startswith(prefix) else name


OUTPUT_SIDES = (16, 8192)
"""Smallest and largest output width and height, in pixels, wherever a size is given (OSC, the command
line). Whether a size holds the frame rate depends on the device: a size that does not is answered with
an /lvj/warning saying the frame rate it gets."""

DIRECTIONS = 8
"""Direction knobs: the model's principal latent directions, computed when a model loads."""

DECKS = ("a", "b")
"""The decks: each plays its own model with its own walk, knobs and presets; the crossfader blends them."""


TIMED = {"walk/period": "walk/beats", "morph/time": "morph/beats", "preset/time": "preset/beats",
         "crossfade/time": "crossfade/beats"}
"""The times in seconds that can be given in beats instead, and the parameter that holds them in beats."""

QUANTISED = ("seed", "walk/randomise", "walk/mode", "preset/recall", "scene/recall", "crossfade/go")
"""What waits for the quantise boundary (and model/blend's cross)."""


def deck_name(deck: str, name: str) -> str:
    """A deck parameter's name on one deck: ``deck_name("b", "walk/speed")`` is ``deck/b/walk/speed``."""
    return f"deck/{deck}/{name}"


def split_deck(name: str) -> tuple[str | None, str]:
    """``deck/b/walk/speed`` -> ("b", "walk/speed"); any other name -> (None, name)."""
    parts = name.split("/", 2)
    if len(parts) == 3 and parts[0] == "deck" and parts[1] in DECKS:
        return parts[1], parts[2]
    return None, name


def _with_decks(params: list[Param]) -> list[Param]:
    """The registry's parameters, then a copy of every deck parameter for each deck (``deck/a/...``)."""
    copies = []
    for deck in DECKS:
        for param in params:
            if param.deck == "*":
                copies.append(replace(param, name=deck_name(deck, param.name), deck=deck,
                                      description=f"Deck {deck.upper()}'s {param.name} (see {PREFIX}/{param.name})."))
    return params + copies


PARAMS = Registry(_with_decks([
    # ---- the walk ------------------------------------------------------------------------------
    Param("walk/mode", "s", "drift", choices=WALK_MODES,
          description="How the latent point moves: drift (smooth random walk), loop (perfect loop of "
                      "walk/period seconds), noise (gradient-noise loop), keyframes (eased slerp through "
                      "seeds), hold (stand still). Switching blends, never jumps.", deck="*"),
    Param("walk/speed", "f", 1.0, range=(-10.0, 10.0), unit="x", smooth=True,
          description="Walk speed multiplier; 0 pauses the motion, negative runs it backwards. "
                      "Changing it never jumps the image.", deck="*"),
    Param("walk/period", "f", 8.0, range=(0.5, 600.0), unit="s",
          description="Length of one loop (loop, noise and keyframes modes) at speed 1, in seconds; "
                      "`/lvj/walk/period 16 beats` sets walk/beats instead. Setting it puts the walk back "
                      "on seconds (walk/beats 0).", deck="*"),
    Param("walk/beats", "f", 0.0, range=(0.0, 4096.0), unit="beats",
          description="Put the walk on the beat: one loop lasts this many beats of the tempo clock (16: "
                      "4 bars), starting on a downbeat and staying on it at any tempo and through tempo "
                      "changes; drift moves at speed 1 one walk second a beat. 0: the walk runs in seconds "
                      "(walk/period).", deck="*"),
    Param("walk/freeze", "T", False,
          description="1 freezes the image where it is at once (the walk keeps its mode and speed); "
                      "0 lets it move on from there.", deck="*"),
    Param("walk/randomise", "I", None, access="w",
          description="Morph to a fresh random seed over morph/time (a jump when morph/time is 0); the new "
                      "seed is echoed on /lvj/seed.", deck="*"),
    Param("morph/time", "f", 2.0, range=(0.0, 60.0), unit="s",
          description="Transition time of a morph to a new seed or latent vector; mode and period changes "
                      "blend over this or 1 s, whichever is shorter. 0 cuts. `/lvj/morph/time 4 beats` sets "
                      "morph/beats instead.", deck="*"),
    Param("morph/beats", "f", 0.0, range=(0.0, 256.0), unit="beats",
          description="Morph time in beats of the tempo clock instead of seconds; 0: morph/time (seconds) "
                      "applies.", deck="*"),
    Param("seed", "i", 0, range=(0, 2**31 - 1),
          description="Morph to this seed's latent point over morph/time; drift, loop and noise then move "
                      "around it, hold stays on it (sending it again in hold brings the image back to it).", deck="*"),
    # ---- the latent point ----------------------------------------------------------------------
    Param("z", "f*", None, range=(-10.0, 10.0),
          description="The whole latent vector, one float per dimension (latent size in /lvj/status and "
                      "OSCQuery): morphs there over morph/time and holds it (walk/mode becomes hold).", deck="*"),
    Param("z/N", "f", None, range=(-10.0, 10.0), smooth=True,
          description="One dimension N (0-based) of the latent point: holds the current point with that "
                      "dimension changed (walk/mode becomes hold).", deck="*"),
    *[Param(f"direction/{k}", "f", 0.0, range=(-3.0, 3.0), unit="sd", smooth=True, deck="*",
            description=f"Move along the model's principal latent direction {k} (of {DIRECTIONS}, strongest "
                        "first; GANSpace-style PCA computed when the model loads), in standard deviations.")
      for k in range(1, DIRECTIONS + 1)],
    Param("truncation", "f", 1.0, range=(0.0, 2.0), smooth=True,
          description="GAN models: scales the latent point towards the average (below 1: more typical, "
                      "less varied images; above 1: wilder). StyleGAN models: psi in W, towards the average w.",
          deck="*"),
    Param("temperature", "f", 1.0, range=(0.0, 2.0), smooth=True,
          description="VAE models: sampling temperature, the spread of the latent point around the prior's "
                      "centre (below 1: blander and more typical, above 1: stranger).", deck="*"),
    # ---- StyleGAN ---------------------------------------------------------------------------------
    Param("walk/space", "s", "z", choices=WALK_SPACES,
          description="StyleGAN models: where the walk, the latent point and the direction knobs move: z (the "
                      "mapping's input) or w (W's principal axes, so motion is linear in W and knob k is W's "
                      "k-th principal axis, GANSpace).", deck="*"),
    Param("noise", "f", 0.0, range=(0.0, 1.0), smooth=True,
          description="StyleGAN2 models: 0 draws the stored constant noise (the same point, the same image); "
                      "above, that much animated noise, which itself moves smoothly with the walk's clock (a new "
                      "field every 2 s of it), never flickering from frame to frame.", deck="*"),
    Param("style/seed", "i", 0, range=(0, 2**31 - 1),
          description="StyleGAN models: the seed of the second point, whose style the layers style/layers names "
                      "take.", deck="*"),
    Param("style/layers", "s", "off", choices=("off", *MIX_LAYERS),
          description="StyleGAN models: which layers take the second seed's style: coarse (4-8 px: pose, "
                      "shape), middle (16-32 px: features), fine (64 px and up: colour, texture), or off.",
          deck="*"),
    Param("style/mix", "f", 1.0, range=(0.0, 1.0), smooth=True,
          description="StyleGAN models: how far the mixed layers move to the second seed's style (0 not at all, "
                      "1 all the way); glides, so a style fades in.", deck="*"),
    Param("sg3/translate", "ff", (0.0, 0.0), range=(-4.0, 4.0),
          description="StyleGAN3 models: move the image by x, y image widths (x right, y down), through the "
                      "input layer's transform, as NVIDIA's visualizer does.", deck="*"),
    Param("sg3/rotate", "f", 0.0, range=(-360.0, 360.0), unit="degrees", smooth=True,
          description="StyleGAN3 models: turn the image by this many degrees, anticlockwise.", deck="*"),
    Param("class", "i", 0, range=(0, 65535),
          description="Class-conditional StyleGAN models: the class drawn (0 to the model's classes - 1); a change "
                      "morphs from the class before over morph/time.", deck="*"),
    # ---- the output ----------------------------------------------------------------------------
    Param("output/fade", "f", 1.0, range=(0.0, 1.0), smooth=True,
          description="Brightness: 1 shows the image, 0 is black. With smoothing 0 it cuts to black."),
    Param("output/size", "ii", None, range=(float(OUTPUT_SIDES[0]), float(OUTPUT_SIDES[1])), unit="px",
          description="Output width and height; the model's image is scaled to cover it and centre-cropped. "
                      "The shared-memory ring is re-created at the new size (readers re-attach); when it "
                      "cannot be made, the old size plays on and the error is replied. A size too large for "
                      "the device to hold the target frame rate is answered with /lvj/warning."),
    Param("output/fps", "f", 30.0, range=(1.0, 240.0), unit="fps",
          description="Target frame rate. When the model is slower, it renders as fast as it can."),
    Param("smoothing", "f", 0.1, range=(0.0, 5.0), unit="s",
          description="Time constant of the smoothing of continuous parameters (walk/speed, z/N, "
                      "direction/*, truncation, temperature, output/fade); 0 applies every change at once."),
    # ---- models and presets --------------------------------------------------------------------
    Param("model/load", "s", None, access="w",
          description="Load a model: a bundled name, or a .safetensors file or a StyleGAN network pickle (.pkl, "
                      "read as data) in a model folder (--models). "
                      "Loads in the background and swaps at a frame boundary; errors are replied.", deck="*"),
    Param("model/list", "I", None, access="w",
          description="Replies /lvj/model/list with the names of the models you can load."),
    Param("model/name", "s", "", access="r",
          description="The model being played (set by LatentVJ; echoed when a new model is in place).", deck="*"),
    Param("preset/store", "i", None, range=(1, 999), access="w",
          description="Store the latent point and every parameter in preset slot N (kept in the presets "
                      "file, reloaded at start).", deck="*"),
    Param("preset/recall", "i", None, range=(1, 999), access="w",
          description="Recall preset slot N over preset/time; refused for a preset made with another model.", deck="*"),
    Param("encode", "si", None, range=(1, 999), access="w",
          description="Encode an image file from the image folders (--images) into preset slot N, for the "
                      "model being played: its encoder (VAE) or a short latent optimisation (GAN; a few "
                      "seconds, rendering goes on). /lvj/preset/current is echoed when it is stored.", deck="*"),
    Param("preset/time", "f", 2.0, range=(0.0, 60.0), unit="s",
          description="Transition time of a preset or scene recall; 0 cuts. `/lvj/preset/time 8 beats` "
                      "sets preset/beats instead."),
    Param("preset/beats", "f", 0.0, range=(0.0, 256.0), unit="beats",
          description="Preset and scene recall time in beats; 0: preset/time (seconds) applies."),
    Param("preset/current", "i", 0, range=(0, 999), access="r",
          description="The slot last stored or recalled (0: none yet).", deck="*"),
    # ---- the conversation ----------------------------------------------------------------------
    Param("status", "I", None, access="w",
          description="Replies /lvj/status to the sender (fields below); to a subscriber, followed by the "
                      "live values (see status/rate)."),
    Param("status/rate", "f", 0.0, range=(0.0, 30.0), unit="Hz",
          description="Send /lvj/status to every subscriber this many times a second, each followed by the "
                      "values that move too fast to echo: /lvj/mod/value/TARGET f (what a route draws) and, "
                      "with live audio, /lvj/audio/feature/NAME f (meters); 0 sends none."),
    Param("subscribe", "I", None, access="w",
          description="Subscribe the sender to echoes, errors and periodic status. With an int argument, "
                      "subscribe that port on the sender's host instead (for hosts that listen on a fixed "
                      "port: TouchDesigner's OSC In, Max's udpreceive); with an int and a string, that port "
                      "on that host."),
    Param("unsubscribe", "I", None, access="w",
          description="Undo /lvj/subscribe (same arguments)."),
    # ---- the decks -----------------------------------------------------------------------------
    Param("deck", "s", "a", choices=DECKS,
          description="The deck that the addresses without a deck address (/lvj/walk/speed, /lvj/seed, "
                      "/lvj/model/load...): a or b. Every deck parameter is also on /lvj/deck/a/... and "
                      "/lvj/deck/b/.... Changing it echoes the newly selected deck's values on the addresses "
                      "without a deck, so faders follow."),
    Param("crossfade", "f", 0.0, range=(0.0, 1.0), smooth=True,
          description="The crossfader: 0 shows deck A, 1 deck B; in between both are drawn and blended (two "
                      "forward passes a frame). At 0 or 1 only the visible deck is drawn."),
    Param("crossfade/time", "f", 2.0, range=(0.0, 60.0), unit="s",
          description="How long /lvj/crossfade/go and /lvj/model/blend take to cross; 0 cuts. "
                      "`/lvj/crossfade/time 8 beats` sets crossfade/beats instead."),
    Param("crossfade/beats", "f", 0.0, range=(0.0, 256.0), unit="beats",
          description="Crossfade time in beats; 0: crossfade/time (seconds) applies."),
    Param("crossfade/go", "I", None, access="w",
          description="Glide the crossfader to the other deck over crossfade/time."),
    Param("scene/store", "i", None, range=(1, 999), access="w",
          description="Store the whole scene in scene slot N: a preset of each deck and the crossfader (scene "
                      "slots are numbered apart from presets)."),
    Param("scene/recall", "i", None, range=(1, 999), access="w",
          description="Recall scene slot N over preset/time: each deck's look and the crossfader; refused, "
                      "saying which, when a deck plays another model than the scene was made with."),
    Param("scene/current", "i", 0, range=(0, 999), access="r",
          description="The scene slot last stored or recalled (0: none yet)."),
    # ---- tempo ---------------------------------------------------------------------------------
    Param("tempo/source", "s", "internal", choices=("internal", "osc", "midi", "link", "audio"),
          description="Where the beat comes from: internal (tempo/bpm and tap), osc (another program sends "
                      "/lvj/tempo/beat on every beat), midi (MIDI clock on --midi-clock PORT), link (the "
                      "Ableton Link session of a server started with --link) or audio (the beat estimated "
                      "from the onsets of --audio or --audio-file). A source that goes quiet leaves the clock free-running at the "
                      "last tempo (status says so)."),
    Param("tempo/bpm", "f", 120.0, range=(20.0, 999.0), unit="BPM",
          description="The tempo. Echoed when the source changes it (tap, MIDI clock, Link). With Link it "
                      "sets the session's tempo for every peer; with MIDI clock it is refused (the clock "
                      "sets it)."),
    Param("tempo/peers", "i", 0, range=(0, 1000), access="r",
          description="Other apps on the Ableton Link session (tempo/source link); set by LatentVJ and echoed "
                      "when it changes. The beat itself is in /status and, every beat or bar, in tempo/pulse."),
    Param("tempo/tap", "I", None, access="w",
          description="Tap tempo: from the second tap the tempo is the mean of the last taps' intervals and "
                      "the beat falls on the tap; a pause of 2 s starts over."),
    Param("tempo/beat", "I", None, access="w",
          description="A beat is now: moves the beat's phase to this moment (the beat never runs backwards: "
                      "the clock slows or hurries until they agree). With tempo/source osc, send it on every "
                      "beat and the tempo follows. With tempo/pulse, LatentVJ sends it out on every beat, "
                      "with the beat's number."),
    Param("tempo/bar", "I", None, access="w",
          description="A bar starts now: moves the downbeat to this moment. With tempo/pulse bar, LatentVJ "
                      "sends it out on every downbeat, with the bar's number."),
    Param("tempo/latency", "f", 0.0, range=(0.0, 500.0), unit="ms",
          description="Lookahead for the display chain: frames are drawn this far ahead of the beat, so what "
                      "the audience sees lands on what it hears."),
    Param("tempo/pulse", "s", "off", choices=("off", "beat", "bar"),
          description="Send /lvj/tempo/beat i (every beat) or /lvj/tempo/bar i (every downbeat) to every "
                      "subscriber, from the frame that crosses it."),
    Param("quantise", "s", "off", choices=("off", "beat", "bar", "2bars", "4bars"),
          description="Changes that start something (seed, randomise, walk/mode, preset and scene recall, "
                      "crossfade/go, model/blend) wait for the next beat, bar, 2 or 4 bars and start exactly "
                      "on it; off: at once."),
    Param("walk/offset", "f", 0.0, range=(-65536.0, 65536.0), unit="beats",
          description="Shift this node's walks in beats along the shared timeline (a video wall: each "
                      "screen a moment further along the same walk). Applies to walks in beats."),
    # ---- modulation ----------------------------------------------------------------------------
    Param("mod/route", "s", None, access="w",
          description="Make or change a route: SOURCE TARGET [amount=A] [offset=O] [range=LO,HI] "
                      "[curve=linear|exp|s] [smooth=S], as separate strings or one. Sources: lfo:SHAPE:BEATS"
                      "[:PHASE] (sine, triangle, saw, square, hit; 4 beats: a bar), osc:NAME, midi:cc|note|gate:"
                      "CH:N, midi:bend:CH, audio:level|low|mid|high|mel1..mel8|flux|onset or env:ATTACK:DECAY:TRIGGER (an "
                      "envelope on another source's rise). Targets: a "
                      "continuous parameter of a deck or the output, motion (walk/speed) or pulse/N "
                      "(direction/N). The route adds offset + amount x curve(source) (fractions of the "
                      "target's range) to the value you set; sending the same source and target again "
                      "changes it. See docs/modulation.md."),
    Param("mod/remove", "s", None, access="w",
          description="Remove the routes to this target (all: every route)."),
    Param("mod/list", "I", None, access="w",
          description="Replies /lvj/mod/route s with each route, in the words /lvj/mod/route takes."),
    Param("mod/load", "s", None, access="w",
          choices=("beat-breathing", "bar-sweep", "bass-pulse", "controller-8-knobs"),
          description="Replace the routes with a shipped set: beat-breathing (truncation, a direction and "
                      "the fade breathing with the bar), bar-sweep (directions swept over 4 bars), bass-pulse "
                      "(live audio: the bass pushes the latent point, onsets kick it, loudness sets the speed) "
                      "or controller-8-knobs (CC 21-28 on MIDI channel 1 bend directions 1-8)."),
    Param("mod/source/NAME", "f", None, range=(-1e6, 1e6), access="w",
          description="The value of the OSC source NAME (letters, digits, _ . -; up to 64 of them), for "
                      "routes from osc:NAME: a sensor, a Kinect joint, Wekinator. A route's range=LO,HI says "
                      "which values map to 0 and 1."),
    Param("mod/routes", "s", "", access="r",
          description="The routes, one per line in the words /lvj/mod/route takes (set by LatentVJ; echoed "
                      "when they change). They are kept in routes.json beside the presets."),
    # ---- MIDI ----------------------------------------------------------------------------------
    Param("midi/learn", "s", None, access="w",
          description="Map the next MIDI CC or note (on --midi PORT) to this address: a continuous parameter "
                      "takes a CC across its range (14-bit with its pair), a switch toggles, a trigger or an "
                      "address with its arguments (preset/recall 3) fires on a note; add relative (two's "
                      "complement) or relative-offset (binary offset) for an endless encoder. See docs/midi.md."),
    Param("midi/forget", "s", None, access="w",
          description="Remove the MIDI mappings to this address."),
    Param("midi/map", "s", "", access="r",
          description="The MIDI mappings, one per line: CONTROL ADDRESS KIND [ARGS] (set by LatentVJ; echoed "
                      "when they change; kept in routes.json beside the presets)."),
    Param("audio/gate", "f", -80.0, range=(-120.0, 0.0), unit="dBFS",
          description="Live audio quieter than this (RMS of a block) is silence: raise it until the room's "
                      "hum no longer moves the image. Also --audio-gate. Not held by presets."),
    Param("midi/ports", "I", None, access="w",
          description="Replies /lvj/midi/ports with the MIDI input ports there are."),
    Param("model/blend", "s", None, access="w",
          description="Load a model onto the hidden deck (the one the crossfader is away from) and, once it "
                      "is ready (loaded and, when the forward pass is compiled, compiled: seconds, while the "
                      "deck before plays on), cross to it over crossfade/time: a model change that is a "
                      "blend, never a cut. The model before stays resident until the fade ends."),
    # ---- recording -----------------------------------------------------------------------------
    Param("record/start", "I", None, access="w",
          description="Record the output as played: no argument, into latentvj-DATE-TIME.mp4 in the "
                      "recordings folder; a file name (NAME.mp4: H.264, NAME.mov: HAP), that file there. "
                      "Never overwrites. A take already recording is finished first. See docs/recording.md."),
    Param("record/stop", "I", None, access="w",
          description="Finish the take: what is queued is written and the file closed."),
    Param("record/file", "s", "", access="r",
          description="The file being recorded ('' when none; set by LatentVJ and echoed when a take starts "
                      "or ends). Status has its length, frames, held and dropped frames."),
]))
