"""The renderer: the one owner of the device.

It prepares models for play (moves them to the device and precision, finds their direction knobs, checks
that they draw), keeps the last few resident so that switching back is instant, and renders a frame from one
or more (model, latent, weight) layers: each model's forward pass, scaled to cover the output size and
centre-cropped, the layers blended on the device, then turned into uint8 RGB or RGBA once, copied to the
host through pinned buffers on CUDA (on a side stream, the host going on meanwhile). Nothing else runs a
playing network: the render loop calls ``submit`` (or ``render``); the model loader calls
``load``/``prepare`` on networks that do not play yet.

Patterned on NVIDIA's StyleGAN3 visualizer (``viz/renderer.py``): the renderer owns the device and caches
networks and buffers; the rest of the program describes what it wants drawn.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
import types
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from latentvj.models.checkpoint import CheckpointError, LoadedModel, load_model, model_fingerprint
from latentvj.models.directions import principal_directions
from latentvj.models.kinds import KINDS, WSpace, w_space

from .control.params import DIRECTIONS
from .device import describe, pick_device, pick_dtype
from .threads import short_switches

OUTPUT_CHANNELS = (1, 3, 4)
"""Channels a model may draw. Grey is sent as RGB, so every output sees RGB8 or RGBA8 frames."""

log = logging.getLogger("latentvj.renderer")

RESIDENT_MODELS = 2
"""Models kept prepared by :meth:`Renderer.load`: the one playing and the one before, so going back and
forth between two is instant and a controller asking for the same loads again and again costs nothing."""


class TraceGate:
    """Keeps the eager forward passes and torch.fx's plain tracer apart, process-wide.

    While ``torch.fx.Tracer`` traces, it swaps ``nn.Module.__call__`` (and ``__getattr__``) for every thread,
    so a module called meanwhile on another thread goes to that tracer and fails ("module is not installed
    as a submodule"): a lost frame while a model compiles beside the eager pass. Inductor uses the plain
    tracer once per process, the first time it lowers a loop (``InterpreterShim._dummy_gm``, kept after);
    its other traces (``make_fx``) call modules straight through. So the compile thread makes that one trace
    itself first, in :meth:`alone`, and every eager pass runs in :meth:`eager`: any number at once, none
    while the trace runs (about 2 ms). A trace waits for the passes under way and lets new ones go first,
    so a render thread is never held up by a long pass on another thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._passes = 0
        self._tracing = False

    @contextlib.contextmanager
    def eager(self):
        with self._changed:
            while self._tracing:
                self._changed.wait()
            self._passes += 1
        try:
            yield
        finally:
            with self._changed:
                self._passes -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self._changed:
            while self._passes:
                self._changed.wait()
            self._tracing = True
        try:
            yield
        finally:
            with self._changed:
                self._tracing = False
                self._changed.notify_all()


TRACE_GATE = TraceGate()


def trace_first() -> None:
    """Inductor's one plain torch.fx trace (see :class:`TraceGate`), made now while no eager pass runs; a
    torch without it has nothing to do."""
    try:
        from torch._inductor.loop_body import InterpreterShim
    except ImportError:
        return
    dummy = getattr(InterpreterShim, "_dummy_gm", None)
    if dummy is not None:
        with TRACE_GATE.alone():
            dummy()


def to_pixels(image: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """(..., C, H, W) images in [-1, 1] as uint8 (..., H, W, C), ``scale`` (127.5 at full brightness)
    fading them towards black: the one conversion of every frame, on the device."""
    return image.float().add(1.0).mul_(scale).clamp_(0, 255).to(torch.uint8).movedim(-3, -1).contiguous()


def framed(part: Callable[..., torch.Tensor], dtype: torch.dtype) -> Callable[..., tuple]:
    """What the renderer compiles: a kind's compiled part with the frame's ends in the same graph. Its first
    input comes in float32 and is cast to ``dtype`` inside; it returns the images and their uint8 pixels
    (:func:`to_pixels` at ``scale``, a 0-d tensor so that a fade never compiles it again). On the CPU each
    eager operation before and after the network costs a dispatch and a wake-up of the sleeping OpenMP
    threads: in the graph they cost nothing (docs/performance.md)."""

    def frame(x: torch.Tensor, *args, scale: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        image = part(x.to(dtype), *args, **kwargs)
        return image, to_pixels(image, scale)

    # A code object of its own: torch.compile keeps its compiled graphs on the function's code, at most
    # eight for one code (torch._dynamo.config.recompile_limit). Shared by every model's pass, a process
    # compiled four models at two thread counts and played every later one uncompiled, saying "compiled".
    own = types.FunctionType(frame.__code__.replace(), frame.__globals__, frame.__name__, frame.__defaults__,
                             frame.__closure__)
    own.__kwdefaults__ = frame.__kwdefaults__
    return own


def compile_options(device: torch.device) -> dict:
    """How the renderer compiles a pass for ``device`` (``torch.compile``'s keywords; the bench makes its
    bare pass the same way). On CUDA it is also replayed as a CUDA graph (one launch a frame instead of
    one per kernel). On the CPU the code that calls the kernels is C++ instead of Python (inductor's
    ``cpp_wrapper``): a few percent faster a frame, and the pass holds Python's interpreter lock only while
    it starts, so the OSC thread, the preview's encoder and the next frame's preparation run beside it
    (docs/performance.md)."""
    if device.type == "cuda":
        return {"mode": "reduce-overhead"}
    if device.type == "cpu":
        return {"options": {"cpp_wrapper": True}}
    return {}


_COMPILING = threading.Lock()
"""One model compiles at a time (torch compiles one frame at a time anyway), so that the modules inductor
loads meanwhile are that model's own (:func:`forget_compiled`)."""


def _inductor_modules() -> list:
    """Inductor's list of the modules it has loaded (empty without inductor)."""
    try:
        from torch._inductor.codecache import PyCodeCache
    except ImportError:
        return []
    return PyCodeCache.modules


def forget_compiled(code: types.CodeType, modules: list) -> None:
    """What torch keeps of a model's compiled pass, let go with the model (a FastPath's finalizer). Torch
    keeps a compiled pass's graphs in its code object (``code``'s extra slot) and its weights in the
    modules inductor loaded for it (``modules``), and lets go of neither: the graphs sit in a cycle its
    garbage collector cannot see (``orig_code_map`` holds the code strongly from a weak key the code's own
    graph holds), and inductor lists every module it loads. With :func:`give_back_memory`, a served show
    loading model after model grows 2 MB a load instead of 21 (docs/performance.md). Torch's private parts:
    a torch without them keeps the memory, nothing worse."""
    try:
        from torch._C._dynamo.eval_frame import reset_code
        from torch._inductor.codecache import PyCodeCache
    except ImportError:
        return
    reset_code(code)  # the graphs go; with them the cleanups that take their names out of the module
    for module in modules:
        with contextlib.suppress(ValueError):
            PyCodeCache.modules.remove(module)
        if sys.modules.get(module.__name__) is module:
            sys.modules.pop(module.__name__, None)
        for path, cached in list(PyCodeCache.modules_no_attr.items()):
            if cached is module:
                PyCodeCache.modules_no_attr.pop(path, None)


def give_back_memory() -> None:
    """Hand the memory the C allocator holds free back to the system (glibc's ``malloc_trim``; elsewhere
    nothing). Compiling allocates and frees a lot on threads that then end, and glibc keeps what each
    thread's arena freed: with the compiled passes let go (:func:`forget_compiled`) but without this, a
    served show still grew 15 MB with every model loaded anew, nearly all of it free memory never given back
    (``latentvj bench --loads``, docs/performance.md). Called on the compile thread once a model has
    compiled, never on the render thread: it walks every arena under its lock (a fraction of a ms here)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl)
        return
    trim(0)


class Pending:
    """A frame on its way to the host (:meth:`Renderer.submit`): ``result()`` waits until it is there, on
    CUDA for its copy's event; from other devices it is there already."""

    __slots__ = ("_pixels", "_copied")

    def __init__(self, pixels: np.ndarray | torch.Tensor, copied=None):
        self._pixels, self._copied = pixels, copied

    def result(self) -> np.ndarray:
        if self._copied is not None:
            self._copied.synchronize()
            self._copied, self._pixels = None, self._pixels.numpy()
        return self._pixels


@dataclass
class FastPath:
    """A model's compiled forward pass (``torch.compile``, inductor with freezing, of :func:`framed`), made
    on a thread of its own while the eager one plays, and used from the first frame after it is ready; any
    error in making or running it leaves the eager one playing. What torch keeps of it goes when it goes
    (:func:`forget_compiled`)."""

    function: Callable | None = None
    """The compiled :func:`framed` part; :meth:`draw` calls it."""
    state: str = "eager"
    """"eager" (not compiled: off, or a kind that is not), "compiling", "compiled" or "failed: why"."""
    seconds: float = 0.0
    """How long making it took."""
    done: threading.Event = field(default_factory=threading.Event)
    """Set when compiling has ended, either way (on the CPU, for every thread count asked for)."""
    threads: frozenset = frozenset()
    """The CPU thread counts it is made for. A compiled CPU kernel is made for one count: called at another
    it compiles again, seconds on the render thread, so at a count not in here the eager pass plays."""
    batches: frozenset = frozenset({1})
    """The batch sizes (frames drawn in one pass, :meth:`Renderer.submit`) it is made for; at another size
    it would compile again on the render thread, so the eager pass draws those."""

    def draw(self, model: LoadedModel, latent: torch.Tensor, truncation: float, styling=None, *,
             scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The kind's draw through the compiled part (``latent`` in float32): (images, their uint8 pixels at
        ``scale``)."""
        pixels = []

        def part(x, *args, **kwargs):
            image, frame = self.function(x, *args, scale=scale, **kwargs)
            pixels.append(frame)
            return image

        image = KINDS[model.kind].draw_compiled(part, model.network, latent, truncation, styling)
        return image, pixels[-1]


@dataclass(frozen=True)
class Prepared:
    """A model ready to play: on the renderer's device and precision, checked, its knobs found."""

    model: LoadedModel
    directions: np.ndarray
    """(DIRECTIONS, latent_dim) float32: the direction knobs' latent directions (zero rows beyond the
    latent size)."""
    id: str
    """The model's fingerprint (presets remember it)."""
    channels: int
    """Channels of the frames it gives: 3 (RGB; grey models too) or 4 (RGBA)."""
    w_space: WSpace | None = None
    """A StyleGAN's W axes (for walks and knobs in W); None for other kinds."""
    fast: FastPath = field(default_factory=FastPath, compare=False)


def output_channels(model: LoadedModel) -> int:
    """Channels of the frames the engine sends for this model: 3 (RGB, grey models too) or 4 (RGBA)."""
    return 4 if int(getattr(model.config, "channels", 3)) == 4 else 3


def knob_directions(model: LoadedModel) -> np.ndarray:
    """(DIRECTIONS, latent_dim) float32: the model's principal latent directions for the direction knobs.
    A latent smaller than the knob count gets as many directions as it has dimensions; the knobs beyond
    do nothing (zero rows)."""
    count = min(DIRECTIONS, model.latent_dim)
    vectors = principal_directions(model, count=count).vectors
    knobs = np.zeros((DIRECTIONS, model.latent_dim), np.float32)
    knobs[:count] = vectors
    return knobs


def _file_key(path: Path) -> tuple:
    """Tells a model file apart from itself after it was rewritten."""
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


class Renderer:
    def __init__(self, device: str = "auto", precision: str = "auto", *, resident: int = RESIDENT_MODELS,
                 compile: bool = False, thread_counts: Sequence[int] | Callable[[], Sequence[int]] = (),
                 batches: Sequence[int] = (1,)):
        """
        Args:
            device: auto (cuda > mps > cpu), cuda, cuda:N, mps or cpu; one that is absent raises DeviceError.
            precision: auto (fp16 on CUDA/MPS, bf16 on a CPU with bf16 arithmetic, else fp32), fp32,
                fp16 or bf16 (device.pick_dtype).
            resident: models :meth:`load` keeps prepared.
            compile: compile each prepared model in the background (CPU and CUDA; not MPS), swapping it in
                when ready (see FastPath).
            thread_counts: on the CPU, the thread counts the render may run at, the likeliest first, or
                what gives them when a compile starts (the engine's ThreadTuner.likely): the compiled pass
                is made for each, in that order (empty: the count the compile thread has).
            batches: the batch sizes the compiled pass is made for (at each thread count): 1 and the
                engine's lookahead batch (the first must be 1).
        """
        self.device = pick_device(device)
        self.compile = compile and self.device.type in ("cpu", "cuda")
        self.dtype = pick_dtype(self.device, precision)
        self.resident = resident
        self.thread_counts = thread_counts
        self.batches = tuple(batches)
        self._cache: collections.OrderedDict[tuple, Prepared] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self.asynchronous = self.device.type == "cuda"
        """Whether :meth:`submit` returns before the frame is on the host: on CUDA the device draws on
        while the host prepares the next frame, and the copy to the host runs on a side stream into one of
        two pinned buffers. Elsewhere a frame is there when submit returns."""
        self._hosts: list[torch.Tensor | None] = [None, None]  # pinned buffers for CUDA -> host copies
        self._slot = 0
        self._copies = None  # the CUDA side stream the copies run on
        self._scales: tuple[float, torch.Tensor] | None = None  # the last pixel scale and its tensor

    def describe(self) -> str:
        return describe(self.device)

    @property
    def precision(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    # ---- models ----------------------------------------------------------------------------------

    def prepare(self, model: LoadedModel) -> Prepared:
        """Put a model on the device and precision, find its direction knobs and check that it draws. Runs on
        a network that does not play yet (the loader's thread). A model that cannot be played raises
        CheckpointError saying why."""
        channels = int(getattr(model.config, "channels", 3))
        if channels not in OUTPUT_CHANNELS:
            raise CheckpointError(f"model '{model.name}' draws {channels} channels; LatentVJ plays grey (1), "
                                  "RGB (3) and RGBA (4) models")
        try:
            with TRACE_GATE.eager():
                directions = knob_directions(model)
        except ValueError as exc:  # e.g. weights so large that the network overflows
            raise CheckpointError(f"model '{model.name}' cannot be played: {exc}") from None
        kind = KINDS[model.kind]
        space = w_space(model.network) if kind.styled else None
        kind.place(model.network, self.device, self.dtype)
        if kind.channels_last and self.device.type in ("cpu", "cuda"):  # measured faster (ModelKind)
            model.network.to(memory_format=torch.channels_last)
        model.network.eval()
        with torch.inference_mode(), TRACE_GATE.eager():
            probe = model.render(torch.zeros(1, model.latent_dim, device=self.device, dtype=self._latent_dtype(model)))
            if not bool(torch.isfinite(probe).all()):
                raise CheckpointError(f"model '{model.name}' cannot be played: it draws NaN or infinite values "
                                      f"at {describe(self.device)} {self.precision} (weights too large for this "
                                      "precision?)")
        prepared = Prepared(model, directions, model_fingerprint(model), output_channels(model), space)
        if self.compile and kind.compiled_part is not None:
            prepared.fast.state = "compiling"
            threading.Thread(target=self._compile, args=(prepared,), name="compile", daemon=True).start()
        return prepared

    def _compile(self, prepared: Prepared) -> None:
        """On the "compile" thread, at a lower priority than the render loop (it competes for the CPU) and
        with short interpreter-lock switches (threads.short_switches): the kind's compiled part, checked
        against the eager one on a probe before it is handed over. A daemon: a compilation cannot be cut
        short, and the process may end while one runs."""
        with short_switches():
            self._compile_all(prepared)

    def _compile_all(self, prepared: Prepared) -> None:
        fast, model = prepared.fast, prepared.model
        started = time.perf_counter()
        loaded = _inductor_modules()
        part, function, made, batches, failure = None, None, set(), {1}, None
        with _COMPILING:
            before = {id(module) for module in loaded}
            try:
                part = framed(KINDS[model.kind].compiled_part(model.network), self._latent_dtype(model))
                function, made, batches = self._compile_counts(part, model)
            except Exception as exc:  # no compiler, an unsupported operator...: the eager one plays on
                failure = exc
            mine = [module for module in loaded if id(module) not in before]
        if part is not None:  # what torch keeps of it goes with the model
            weakref.finalize(fast, forget_compiled, part.__code__, mine).atexit = False
        give_back_memory()  # what compiling freed (and the models let go meanwhile)
        if failure is not None:
            text = str(failure).strip()
            fast.state = f"failed: {type(failure).__name__}: {text.splitlines()[0][:160] if text else ''}"
            log.warning("model '%s' plays uncompiled: compiling it %s", model.name, fast.state)
            fast.done.set()
            return
        fast.seconds = time.perf_counter() - started
        fast.threads, fast.batches = frozenset(made), frozenset(batches)
        fast.function, fast.state = function, "compiled"
        fast.done.set()
        log.info("model '%s' compiled in %.1f s%s%s; playing the compiled forward pass", model.name, fast.seconds,
                 "" if made == {None} else f" (for {', '.join(map(str, sorted(made)))} threads)",
                 "" if batches == {1} else f" (batches of {', '.join(map(str, sorted(batches)))})")

    def _compile_counts(self, part: Callable, model: LoadedModel) -> tuple[Callable, set, set]:
        """``part`` compiled for each thread count asked for, the first of which must succeed, and then for
        each batch size asked for at those counts: (the compiled function, the counts it is made for, the
        batch sizes it is made for at every one of them)."""
        trace_first()  # before this thread's priority drops: eager passes wait while it runs
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only, on Linux
            # and only when nothing else wants a core (the C++ compiler it starts inherits this)
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            pass
        import torch._dynamo.config as dynamo
        import torch._inductor.config as inductor

        inductor.freezing = True  # weights as constants: folded and laid out for the convolutions
        # past its limit of graphs a compiled function runs uncompiled without a word: a failure instead,
        # so the eager pass plays with a log line and /lvj/status says why
        dynamo.fail_on_recompile_limit_hit = True
        inductor.compile_threads = 1
        function = torch.compile(part, dynamic=False, **compile_options(self.device))
        asked = self.thread_counts() if callable(self.thread_counts) else self.thread_counts
        counts = list(asked) if self.device.type == "cpu" and asked else [None]
        self._compile_for(counts[0], function, model)
        made = {counts[0]}
        # The other counts the tuner may pick, before it plays: compiling one while the compiled pass plays
        # would hold frames up (two compute-bound jobs on the same cores).
        for count in counts[1:]:
            try:
                self._compile_for(count, function, model)
            except Exception as exc:
                log.info("model '%s': not compiled for %d threads (%s); it plays uncompiled at that count",
                         model.name, count, exc)
                continue
            made.add(count)
        batches = {1}
        for batch in self.batches[1:]:
            try:
                for count in sorted(made, key=lambda c: -1 if c is None else c):
                    self._compile_for(count, function, model, batch=batch)
            except Exception as exc:
                log.info("model '%s': not compiled for batches of %d (%s); those draw uncompiled",
                         model.name, batch, exc)
                continue
            batches.add(batch)
        return function, made, batches

    def _compile_for(self, count: int | None, function: Callable, model: LoadedModel, *, batch: int = 1) -> None:
        """Make (or check) the compiled pass at ``count`` CPU threads (torch's count is this thread's own:
        the render thread's is untouched) for ``batch`` frames at once, checked against the eager pass on a
        probe, images and pixels; raises if it differs."""
        if count is not None:
            torch.set_num_threads(count)
        kind = KINDS[model.kind]
        trial = FastPath(function)
        with torch.inference_mode():  # as render calls it: inference tensors in (guards check that)
            probe = torch.randn(batch, model.latent_dim, generator=torch.Generator().manual_seed(0)).to(self.device)
            scale = self._scale(127.5)
            # a CUDA graph is recorded on the second or third call: the frame checked is a replayed one
            for _ in range(3 if self.device.type == "cuda" else 1):
                got, pixels = trial.draw(model, probe, 1.0, scale=scale)
                got, pixels = got.clone(), pixels.clone()
            with TRACE_GATE.eager():
                want = kind.draw(model.network, probe.to(self._latent_dtype(model)), 1.0)
        # a few units in the last place of the precision at 1.0 (bf16's is 1/128: the two passes round apart)
        tolerance = {torch.float32: 1e-3, torch.float16: 2e-2}.get(self.dtype, 6e-2)
        if not torch.allclose(got.float(), want.float(), atol=tolerance, rtol=tolerance):
            raise ValueError(f"it draws {float((got.float() - want.float()).abs().max()):.2g} away from the "
                             "eager forward pass")
        levels = (pixels.int() - to_pixels(want, 127.5).int()).abs().max()
        if int(levels) > 1 + 255 * tolerance:
            raise ValueError(f"its pixels are {int(levels)} levels away from the eager pass's")

    def load(self, path: Path) -> tuple[Prepared, bool]:
        """The model in a file, prepared: from the resident ones when it is there (then ``False``: nothing
        was loaded), else loaded and prepared (``True``), the oldest resident one let go."""
        key = _file_key(path)
        with self._cache_lock:
            prepared = self._cache.pop(key, None)
            if prepared is not None:
                self._cache[key] = prepared
                return prepared, False
        prepared = self.prepare(load_model(path))
        self.keep(prepared)
        return prepared, True

    def keep(self, prepared: Prepared) -> None:
        """Keep a prepared model resident (the newest; the oldest beyond ``resident`` is let go)."""
        if prepared.model.path is None:
            return
        key = _file_key(prepared.model.path)
        with self._cache_lock:
            self._cache.pop(key, None)
            self._cache[key] = prepared
            while len(self._cache) > self.resident:
                self._cache.popitem(last=False)

    # ---- frames ----------------------------------------------------------------------------------

    def render(self, layers: Sequence[tuple], *, width: int, height: int, channels: int,
               fade: float = 1.0) -> np.ndarray:
        """One frame, drawn and on the host (see :meth:`submit`). The array may be a view of a buffer
        that a later frame reuses: copy what you keep."""
        return self.submit(layers, width=width, height=height, channels=channels, fade=fade).result()

    @torch.inference_mode()
    def submit(self, layers: Sequence[tuple], *, width: int, height: int, channels: int,
               fade: float = 1.0) -> "Pending":
        """One frame from (model, latent, weight[, truncation[, styling]]) layers, on its way: its
        ``result()`` is uint8 (height, width, channels), top row first. Each model draws its latent with its
        latent knob at ``truncation`` (1 by default) and, for a StyleGAN, its ``styling`` (models/kinds.py: W
        walks, noise, mixing...); each layer's image is scaled to cover width x height and centre-cropped;
        the layers are blended with their weights (which should sum to 1) before the one conversion to uint8;
        ``fade`` scales the result towards black.

        A batch: latents of shape (frames, latent_dim), the same count in every layer, draw that many frames
        in one pass (the engine's lookahead); ``result()`` is then (frames, height, width, channels). A
        StyleGAN's styling is then every frame's: not with animated noise (it moves with each frame's time)."""
        if not layers:
            raise ValueError("nothing to render: no layers")
        batched = np.ndim(layers[0][1]) == 2
        frames = len(layers[0][1]) if batched else 1
        if self.compile and self.device.type == "cuda":
            # a new frame for the CUDA graphs: their outputs from the last one are overwritten from here on,
            # while two layers of this frame (the same model on both decks) each keep their own
            torch.compiler.cudagraph_mark_step_begin()
        blend: torch.Tensor | None = None
        # the fade to black rides on the one conversion's scale
        scale = 127.5 * min(1.0, max(0.0, fade))
        for prepared, z, weight, *knob in layers:
            truncation = knob[0] if knob else 1.0
            styling = knob[1] if len(knob) > 1 else None
            latent_dim = prepared.model.latent_dim
            if z.shape != ((frames, latent_dim) if batched else (latent_dim,)):
                raise ValueError(f"expected a latent of shape {(frames, latent_dim) if batched else (latent_dim,)}, "
                                 f"got {z.shape}")
            if batched and styling is not None and styling.noise > 0:
                raise ValueError("a StyleGAN with animated noise draws one frame at a time (the noise moves "
                                 "with each frame's time)")
            latent = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).reshape(frames, latent_dim)
            image, pixels = self._draw(prepared, latent.to(self.device), truncation, styling, scale)
            if len(layers) == 1 and pixels is not None and pixels.shape[1:] == (height, width, channels):
                return self._to_host(pixels if batched else pixels[0])  # the compiled pass made the frames
            image = self._channels(self._fit(image, width, height), channels)
            if len(layers) == 1:
                blend = image
            else:
                term = image.float().mul(weight)
                blend = term if blend is None else blend.add_(term)
        pixels = to_pixels(blend, scale)
        return self._to_host(pixels if batched else pixels[0])

    def _to_host(self, pixels: torch.Tensor) -> "Pending":
        """The frame's pixels on their way to the host. From CUDA: copied on the side stream into the next
        of two pinned buffers (the one before may still be read), after the frame is drawn; the device's
        next work waits for that copy (a CUDA graph's output is overwritten by its next replay), the host
        does not."""
        if self.device.type != "cuda":
            return Pending(pixels.cpu().numpy())
        if self.asynchronous:
            try:
                return self._copy_aside(pixels)
            except Exception as exc:  # no pinned memory, no second stream...: copies in line from now on
                self.asynchronous = False
                log.warning("frames are copied to the host in line (the side stream failed: %s)", exc)
        host = self._pinned(pixels)
        host.copy_(pixels, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return Pending(host.numpy())

    def _pinned(self, pixels: torch.Tensor) -> torch.Tensor:
        self._slot = 1 - self._slot
        host = self._hosts[self._slot]
        if host is None or host.shape != pixels.shape:
            host = self._hosts[self._slot] = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
        return host

    def _copy_aside(self, pixels: torch.Tensor) -> "Pending":
        drawing = torch.cuda.current_stream(self.device)
        if self._copies is None:
            self._copies = torch.cuda.Stream(self.device)
        host = self._pinned(pixels)
        drawn, copied = torch.cuda.Event(), torch.cuda.Event()
        drawn.record(drawing)
        with torch.cuda.stream(self._copies):
            self._copies.wait_event(drawn)
            host.copy_(pixels, non_blocking=True)
            copied.record(self._copies)
        drawing.wait_event(copied)
        return Pending(host, copied)

    def _scale(self, value: float) -> torch.Tensor:
        """The compiled pass's pixel scale: a 0-d tensor on the device, so its value is an input, not a
        constant of the graph; the last one made is kept (the fade rarely moves: no new tensor a frame)."""
        kept = self._scales
        if kept is None or kept[0] != value:
            kept = self._scales = (value, torch.full((), value, dtype=torch.float32, device=self.device))
        return kept[1]

    def _latent_dtype(self, model: LoadedModel) -> torch.dtype:
        """The precision of the latent a model is handed: the renderer's, but float32 for a StyleGAN, whose
        mapping runs in float32 on every device (a z rounded to half precision would move the image)."""
        return torch.float32 if KINDS[model.kind].styled else self.dtype

    def _draw(self, prepared: Prepared, latent: torch.Tensor, truncation: float, styling,
              scale: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A layer's images from its float32 latents on the device, and, through the compiled pass, their
        uint8 pixels at ``scale`` (None from the eager pass)."""
        fast, model = prepared.fast, prepared.model
        if fast.function is not None and latent.shape[0] in fast.batches and (
                self.device.type != "cpu" or torch.get_num_threads() in fast.threads or None in fast.threads):
            try:
                return fast.draw(model, latent, truncation, styling, scale=self._scale(scale))
            except Exception as exc:  # the compiled pass failed where the eager one may not: eager from now on
                fast.function, fast.state = None, f"failed: {type(exc).__name__}: {exc}"[:200]
                log.warning("model '%s': its compiled forward pass failed (%s); playing it uncompiled",
                            model.name, exc)
        with TRACE_GATE.eager():
            return model.render(latent.to(self._latent_dtype(model)), truncation=truncation,
                                styling=styling), None

    @staticmethod
    def _channels(image: torch.Tensor, channels: int) -> torch.Tensor:
        """(N, C, H, W) images in [-1, 1] as ``channels`` channels, so layers of grey, RGB and RGBA models
        blend (grey spread, alpha opaque: 1)."""
        if image.shape[1] == channels:
            return image
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        if channels == 3:
            return image[:, :3]
        if image.shape[1] == 3:
            return torch.cat([image, torch.ones_like(image[:, :1])], dim=1)
        return image

    def _fit(self, image: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """Scale the model's square images (N, C, H, W) to cover the output size, then centre-crop."""
        h, w = image.shape[-2:]
        if (w, h) == (width, height):
            return image
        scale = max(width / w, height / h)
        size = (max(height, round(h * scale)), max(width, round(w * scale)))
        # in float32: the CPU's antialiased resampling has no bf16 kernel
        image = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False,
                              antialias=scale < 1 and self.device.type != "mps")
        top, left = (size[0] - height) // 2, (size[1] - width) // 2
        return image[..., top:top + height, left:left + width]
