"""Numbered preset slots: the latent point and every parameter, kept in a human-readable JSON file.

The engine recalls a preset (it owns the walk and the smoothing); this module keeps the slots, reads and
writes the file, and checks what it reads. The file is plain JSON, never a pickle: nothing in it is
executed, a person can read and edit it, and a file from another version loads as far as it makes sense.

Safety of the file, for a live show:

- Every store writes the whole file to a temporary file in the same folder, flushes and fsyncs it, then
  renames it over the old one (``os.replace``, atomic on POSIX and Windows). A crash or a full disk
  mid-write leaves the old file as it was.
- A file that is not a presets file at all (not JSON, no version, wrong shape) is moved aside to
  ``presets.json.corrupt-<time>`` with a warning, and the store starts empty: the show goes on and the
  old file is kept for a person to look at. A file written by a newer LatentVJ, or one that cannot be read
  (permissions, a folder), raises :class:`PresetError` instead: starting empty would overwrite it.
- A preset entry or a parameter that does not check out (a slot out of 1..999, a latent with NaN, a
  parameter this version does not know, a value out of range) is dropped with a warning; the rest loads.
  The file still holds what was dropped until the next store, which first copies it to
  ``presets.json.backup-<time>``.

See docs/presets.md for the file format and the OSC addresses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from .params import PARAMS

log = logging.getLogger("latentvj.presets")

FORMAT_VERSION = 1
"""The ``version`` field of the presets file this code writes and reads."""

SLOTS = range(1, 1000)
"""Valid slot numbers, as ``/lvj/preset/store`` and ``/lvj/preset/recall`` take them."""

_NOT_A_LOOK = ("z", "z/N", "output/size", "output/fps", "status/rate", "preset/time", "preset/beats", "deck",
               "crossfade", "crossfade/time", "crossfade/beats", "scene/current", "quantise", "walk/offset",
               "audio/gate", *(p.name for p in PARAMS if p.name.startswith("tempo/")))
PRESET_PARAMS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.access == "rw" and p.name not in _NOT_A_LOOK
                                       and p.deck in (None, "*"))
"""The parameters a preset holds: every value a performer sets and reads back (``rw``) that makes up the
look of a deck, in registry order, under the names without a deck (a preset stored from deck A recalls on
deck B as well). Not ``z`` and ``z/N``: the latent point is stored whole in :attr:`Preset.latent`. Not the
output format (size, fps), the status rate, the recall time, the deck selection, the crossfader, the tempo,
the quantise grid, the node's walk offset or the audio gate (the room's): a preset is a look, and recalling one must not change how it
is delivered, recalled, mixed or timed. Not triggers (``w``:
recalling ``preset/store`` would store) nor values only LatentVJ sets (``r``)."""


class PresetError(ValueError):
    """A preset that cannot be stored, found or recalled, or a presets file that cannot be used; the
    message says which slot or file and what is wrong, and is sent back to the controller as is."""


@dataclass(frozen=True)
class Preset:
    slot: int
    """Slot number, 1..999."""
    model: str
    """Name of the model it was made with (the model file's metadata name), for messages."""
    model_id: str
    """Fingerprint of that model (``latentvj.models.checkpoint.model_fingerprint``): it tells apart two
    models with the same name. A preset is recalled only on the model with this fingerprint."""
    latent: tuple[float, ...]
    """The latent point, one float per dimension; JSON keeps float32 and float64 values exactly."""
    params: dict[str, Any]
    """Parameter name -> value, for names in :data:`PRESET_PARAMS` (values as the registry coerces them:
    ``output/size`` is a tuple). Treat as read-only."""
    stored: str
    """When it was stored, ISO 8601 (for people; not interpreted)."""


@dataclass(frozen=True)
class Scene:
    """A whole scene: a preset of each deck and the crossfader, stored and recalled together."""

    slot: int
    decks: dict[str, Preset]
    """Deck name ("a", "b") -> that deck's look (its ``slot`` is the scene's)."""
    crossfade: float
    """Where the crossfader was, 0 (A) .. 1 (B)."""
    stored: str


class PresetStore:
    """The preset slots of one presets file, loaded when made and written through on every store.

    Safe to use from several threads: :meth:`store` (which writes and fsyncs the file) may run on one
    thread while others call :meth:`get` and :meth:`slots`, which never wait for the disk.
    """

    def __init__(self, path: str | os.PathLike):
        """path: the presets file (``default_presets_path()`` for the user's own). A missing file is an
        empty store; the file and its folder are created by the first :meth:`store`."""
        self._path = Path(path)
        self._lock = threading.Lock()
        """Guards ``_presets`` (held briefly, never during file I/O)."""
        self._write_lock = threading.Lock()
        """Serialises writes of the file, so it always holds the newest state."""
        self._presets: dict[int, Preset] = {}
        self._scenes: dict[int, Scene] = {}
        self._unwritten = False
        self._blocks: dict[int, tuple[Preset, str]] = {}
        """The file's text per slot, from the last write (the writer's; under _write_lock)."""
        self._backup_before_write = False
        """Something in the file was dropped on load: copy the file aside before overwriting it."""
        self._load()

    @property
    def path(self) -> Path:
        return self._path

    def slots(self) -> list[int]:
        """The slots that hold a preset, in ascending order."""
        with self._lock:
            return sorted(self._presets)

    def get(self, slot: int) -> Preset:
        """The preset in ``slot``; :class:`PresetError` when the slot is not 1..999 or is empty."""
        _check_slot(slot)
        with self._lock:
            preset = self._presets.get(slot)
        if preset is None:
            raise PresetError(f"preset {slot} is empty")
        return replace(preset, params=dict(preset.params))

    def scene_slots(self) -> list[int]:
        """The slots that hold a scene, in ascending order (a numbering of their own)."""
        with self._lock:
            return sorted(self._scenes)

    def get_scene(self, slot: int) -> Scene:
        """The scene in ``slot``; :class:`PresetError` when the slot is not 1..999 or is empty."""
        _check_slot(slot)
        with self._lock:
            scene = self._scenes.get(slot)
        if scene is None:
            raise PresetError(f"scene {slot} is empty")
        return scene

    def put_scene(self, scene: Scene) -> None:
        """Keep a scene in memory at once; the file is written by the next :meth:`flush`."""
        _check_slot(scene.slot)
        if not 0.0 <= scene.crossfade <= 1.0:
            raise PresetError(f"scene {scene.slot}: the crossfader is 0..1, got {scene.crossfade!r}")
        decks = {deck: _checked(replace(preset, slot=scene.slot)) for deck, preset in scene.decks.items()}
        with self._lock:
            self._scenes[scene.slot] = replace(scene, decks=decks)
            self._unwritten = True

    def store(self, preset: Preset) -> None:
        """Put ``preset`` in its slot (replacing what was there) and write the whole file atomically.

        A preset that does not check out raises :class:`PresetError` and changes nothing. When writing the
        file fails (``OSError``, re-raised), the file on disk is unchanged; the preset is still kept in
        memory, so it can be recalled until the server stops, and the next successful store writes it too.
        """
        self.put(preset)
        self.flush()

    def put(self, preset: Preset) -> None:
        """Put ``preset`` in its slot in memory at once (recallable from now on); the file is written by
        the next :meth:`flush`. Raises :class:`PresetError` (changing nothing) when it does not check out."""
        preset = _checked(preset)
        with self._lock:
            self._presets[preset.slot] = preset
            self._unwritten = True

    @property
    def unwritten(self) -> bool:
        """Whether memory holds presets the file does not (yet)."""
        return self._unwritten

    def flush(self) -> None:
        """Write the whole file atomically if memory holds anything it does not; one write however many
        presets were put since the last. ``OSError`` is re-raised (the file on disk is then unchanged, and
        the presets stay in memory for the next flush)."""
        with self._write_lock:
            with self._lock:
                if not self._unwritten:
                    return
                presets = dict(self._presets)
                scenes = dict(self._scenes)
                self._unwritten = False
            try:
                self._write(presets, scenes)
            except BaseException:
                with self._lock:
                    self._unwritten = True
                raise

    def _write(self, presets: dict[int, Preset], scenes: dict[int, Scene]) -> None:
        text = _file_text(presets, self._blocks, scenes)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._backup_before_write and self._path.exists():
            backup = _aside(self._path, "backup")
            shutil.copy2(self._path, backup)
            log.warning("kept a copy of %s as %s before rewriting it without the entries that were "
                        "dropped when it was loaded", self._path, backup.name)
        self._backup_before_write = False
        write_atomically(self._path, text)

    def check_model(self, preset: Preset, model: str, model_id: str, *, latent_dim: int | None = None) -> None:
        """Refuse (:class:`PresetError`) a preset made with a model other than the one playing.

        model, model_id: the name and fingerprint of the model being played.
        latent_dim: its latent size; when given, a preset whose latent has another length (a hand-edited
            file) is refused too.
        """
        if preset.model_id != model_id:
            made = f"preset {preset.slot} was made with model '{preset.model}' (latent {len(preset.latent)})"
            if preset.model == model:
                raise PresetError(f"{made}, a different model file with the same name (id {preset.model_id}); "
                                  f"the current model '{model}' has id {model_id}")
            raise PresetError(f"{made}; the current model is '{model}'")
        if latent_dim is not None and len(preset.latent) != latent_dim:
            raise PresetError(f"preset {preset.slot} has a latent of {len(preset.latent)} numbers; the current "
                              f"model '{model}' takes {latent_dim}")

    # ---- reading the file -------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise PresetError(f"cannot read the presets file {self._path}: {exc.strerror or exc}") from None
        try:
            document = json.loads(raw.decode("utf-8"), object_pairs_hook=_warn_duplicate_keys)
        except (UnicodeDecodeError, ValueError) as exc:
            self._set_aside(f"it is not valid JSON ({exc})")
            return
        except RecursionError:  # "[[[[..." nested deeper than the parser goes
            self._set_aside("it is not a presets file (JSON nested too deep to read)")
            return
        problem = _document_problem(document)
        if problem == "newer":
            raise PresetError(
                f"the presets file {self._path} was written by a newer LatentVJ (format version "
                f"{document['version']}; this one reads version {FORMAT_VERSION}): upgrade LatentVJ, or use "
                "another presets file (--presets FILE)")
        if problem:
            self._set_aside(problem)
            return
        dropped = False
        for key, entry in document["presets"].items():
            preset, warnings = _read_preset(key, entry)
            for warning in warnings:
                log.warning("%s: %s", self._path, warning)
            dropped = dropped or bool(warnings)
            if preset is not None:
                self._presets[preset.slot] = preset
        scenes = document.get("scenes", {})
        if not isinstance(scenes, dict):
            log.warning("%s: dropped the scenes: expected an object, found %s", self._path, type(scenes).__name__)
            scenes, dropped = {}, True
        for key, entry in scenes.items():
            scene, warnings = _read_scene(key, entry)
            for warning in warnings:
                log.warning("%s: %s", self._path, warning)
            dropped = dropped or bool(warnings)
            if scene is not None:
                self._scenes[scene.slot] = scene
        if dropped:
            self._backup_before_write = True
            log.warning("%s: what was dropped stays in the file until the next preset is stored, which first "
                        "copies the file to %s.backup-<time>", self._path, self._path.name)
        log.info("loaded %d presets from %s", len(self._presets), self._path)

    def _set_aside(self, problem: str) -> None:
        aside = _aside(self._path, "corrupt")
        try:
            os.replace(self._path, aside)
        except OSError as exc:
            raise PresetError(f"the presets file {self._path} is unusable ({problem}) and could not be moved "
                              f"aside to {aside.name}: {exc.strerror or exc}") from None
        log.warning("the presets file %s is unusable (%s); moved it to %s and started with no presets",
                    self._path, problem, aside.name)


WRITE_INTERVAL_S = 0.5
"""Least time between two writes of the presets file by the PresetWriter."""


class PresetWriter:
    """Writes a store's file from its own thread, coalescing: however many presets are stored while a write
    is under way, the next write takes them all (latest state wins), so a storm of stores costs a few
    writes, and shutdown waits for one write at most.

    ``request(source)`` is cheap and never blocks (the render loop calls it); a write that fails is handed
    to ``failed(error, source)`` with the sender of the newest store it held.
    """

    def __init__(self, store: PresetStore, *, failed: Callable[[Exception, Any], None],
                 interval: float = WRITE_INTERVAL_S):
        """
        Args:
            store: the presets to write.
            failed: called with (the error, the sender of the newest store) when a write fails.
            interval: least seconds between the starts of two writes (stores in between are coalesced).
        """
        self.store = store
        self.interval = interval
        self._failed = failed
        self._cond = threading.Condition()
        self._source: Any = None
        self._requested = False
        self._stopping = False
        self.writes = 0
        """Files written."""
        self._thread = threading.Thread(target=self._loop, name="preset-write", daemon=True)
        self._thread.start()

    def request(self, source: Any = None) -> None:
        """Write the store's file soon (the presets are already in memory: :meth:`PresetStore.put`)."""
        with self._cond:
            self._requested = True
            self._source = source
            self._cond.notify_all()

    def wait_written(self, timeout: float | None = None) -> bool:
        """Wait until every request so far is on disk (or failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._requested and not self._writing, timeout=timeout)

    _writing = False

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (one write), then end the thread; gives up after ``timeout`` seconds."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("presets: the last write to %s did not finish within %.0f s", self.store.path, timeout)

    def _loop(self) -> None:
        last = -math.inf
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._requested or self._stopping)
                if not self._requested:
                    return  # stopping, nothing left to write
                # A storm of stores: one write per interval at most (stopping writes at once).
                self._cond.wait_for(lambda: self._stopping, timeout=max(0.0, last + self.interval - time.monotonic()))
                self._requested, source, self._writing = False, self._source, True
            last = time.monotonic()
            try:
                self.store.flush()
                self.writes += 1
                log.debug("wrote %s", self.store.path)
            except (OSError, PresetError) as exc:
                self._failed(exc, source)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()


def _document_problem(document: Any) -> str | None:
    """What is wrong with the file as a whole: None, "newer", or a description."""
    if not isinstance(document, dict):
        return f"expected a JSON object, found {type(document).__name__}"
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        return f"expected an integer \"version\" field, found {version!r}"
    if version > FORMAT_VERSION:
        return "newer"
    if version < 1:
        return f"unknown format version {version}"
    if not isinstance(document.get("presets"), dict):
        return "expected a \"presets\" object mapping slot numbers to presets"
    return None


def _read_preset(key: str, entry: Any) -> tuple[Preset | None, list[str]]:
    """One entry of the file -> (the preset or None when it is unusable, warnings about what was dropped)."""
    try:
        slot = int(key) if key.strip().isdigit() else None
    except ValueError:
        slot = None
    if slot is None or slot not in SLOTS:
        return None, [f"dropped the preset under {key!r}: slots are numbered 1 to 999"]
    if not isinstance(entry, dict):
        return None, [f"dropped preset {slot}: expected an object, found {type(entry).__name__}"]
    for field in ("model", "model_id"):
        if not isinstance(entry.get(field), str):
            return None, [f"dropped preset {slot}: expected a string \"{field}\", found {entry.get(field)!r}"]
    latent, problem = _latent(entry.get("latent"))
    if problem:
        return None, [f"dropped preset {slot}: its latent {problem}"]
    stored = entry.get("stored", "")
    params = entry.get("params", {})
    warnings = []
    if not isinstance(params, dict):
        warnings.append(f"preset {slot}: dropped its params: expected an object, found {type(params).__name__}")
        params = {}
    kept: dict[str, Any] = {}
    for name, value in params.items():
        try:
            kept[name] = _param_value(name, value)
        except PresetError as exc:
            warnings.append(f"preset {slot}: dropped {exc}")
    return Preset(slot=slot, model=entry["model"], model_id=entry["model_id"], latent=latent,
                  params=_in_registry_order(kept), stored=stored if isinstance(stored, str) else str(stored)), warnings


def _read_scene(key: str, entry: Any) -> tuple[Scene | None, list[str]]:
    """One scene of the file -> (the scene or None when it is unusable, warnings)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("decks"), dict):
        return None, [f"dropped the scene under {key!r}: expected an object with \"decks\""]
    crossfade = entry.get("crossfade")
    if isinstance(crossfade, bool) or not isinstance(crossfade, (int, float)) or not 0 <= crossfade <= 1:
        return None, [f"dropped the scene under {key!r}: its crossfade should be a number 0..1, found {crossfade!r}"]
    decks, warnings = {}, []
    for deck, preset_entry in entry["decks"].items():
        preset, problems = _read_preset(key, preset_entry)
        warnings += [f"scene {key}, deck {deck}: {problem}" for problem in problems]
        if preset is None:
            return None, warnings + [f"dropped the scene under {key!r}: its deck {deck!r} is unusable"]
        decks[str(deck)] = preset
    slot = next(iter(decks.values())).slot if decks else None
    if slot is None:
        return None, [f"dropped the scene under {key!r}: it holds no deck"]
    stored = entry.get("stored", "")
    return Scene(slot=slot, decks=decks, crossfade=float(crossfade),
                 stored=stored if isinstance(stored, str) else str(stored)), warnings


def _warn_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            log.warning("presets file: %r appears twice in one object; the last one is kept", key)
        result[key] = value
    return result


# ---- checks shared by store() and loading ------------------------------------------------------------

def _check_slot(slot: Any) -> None:
    if isinstance(slot, bool) or not isinstance(slot, int) or slot not in SLOTS:
        raise PresetError(f"preset slots are numbered 1 to 999, got {slot!r}")


def _latent(values: Any) -> tuple[tuple[float, ...], str | None]:
    """A latent from a file or a caller -> (floats, None), or ((), what is wrong with it)."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        return (), f"should be a list of numbers, found {type(values).__name__}"
    floats = []
    for i, value in enumerate(values):
        # Numbers only (numpy scalars included); not booleans or strings, even "1.5".
        if isinstance(value, (bool, str, bytes)):
            return (), f"should hold numbers; item {i} is {value!r}"
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return (), f"should hold finite numbers; item {i} is {value!r}"
        if not math.isfinite(number):
            return (), f"should hold finite numbers; item {i} is {number}"
        floats.append(number)
    if not floats:
        return (), "is empty"
    return tuple(floats), None


def _param_value(name: Any, value: Any) -> Any:
    """The registry's value for one stored parameter, or PresetError("name: reason")."""
    if name not in PRESET_PARAMS:
        try:
            PARAMS[name]
        except (KeyError, TypeError):
            raise PresetError(f"{name!r}: not a parameter of this LatentVJ version") from None
        raise PresetError(f"{name!r}: not a parameter a preset holds (only values you set and read back)")
    param = PARAMS[name]
    if param.type in ("ii", "ff"):
        if not isinstance(value, (list, tuple)):
            raise PresetError(f"{name!r}: expected two numbers, found {value!r}")
        args = list(value)
    else:
        args = [value]
    try:
        return param.coerce(args)
    except (ValueError, TypeError, OverflowError) as exc:  # ParamError is a ValueError
        raise PresetError(f"{name!r}: {exc}") from None


def _in_registry_order(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: params[name] for name in PRESET_PARAMS if name in params}


def _checked(preset: Preset) -> Preset:
    """A copy of a preset to store, with values normalised, or PresetError naming the slot and the problem."""
    _check_slot(preset.slot)
    for field in ("model", "model_id", "stored"):
        if not isinstance(getattr(preset, field), str):
            raise PresetError(f"preset {preset.slot}: {field} should be a string, got {getattr(preset, field)!r}")
    latent, problem = _latent(preset.latent)
    if problem:
        raise PresetError(f"preset {preset.slot}: the latent {problem}")
    if not isinstance(preset.params, Mapping):
        raise PresetError(f"preset {preset.slot}: params should be a dict, got {type(preset.params).__name__}")
    params = {}
    for name, value in preset.params.items():
        try:
            params[name] = _param_value(name, value)
        except PresetError as exc:
            raise PresetError(f"preset {preset.slot}: {exc}") from None
    return Preset(slot=preset.slot, model=preset.model, model_id=preset.model_id, latent=latent,
                  params=_in_registry_order(params), stored=preset.stored)


# ---- writing the file ---------------------------------------------------------------------------------

def _file_text(presets: Mapping[int, Preset], blocks: dict[int, tuple[Preset, str]] | None = None,
               scenes: Mapping[int, Scene] | None = None) -> str:
    """The presets file: indented JSON, slots in ascending order, fields in a fixed order, parameters in
    registry order, and each latent on one line (so a person can read the rest).

    ``blocks``: the text of each slot from the last call, reused for presets that did not change (a
    store of one preset among 999 then formats one), and updated."""
    blocks = {} if blocks is None else blocks
    for slot in list(blocks):
        if slot not in presets:
            del blocks[slot]
    texts = []
    for slot in sorted(presets):
        p = presets[slot]
        cached = blocks.get(slot)
        if cached is None or cached[0] is not p:
            cached = blocks[slot] = (p, _preset_text(p))
        texts.append(cached[1])
    body = "{\n" + ",\n".join(texts) + "\n  }" if texts else "{}"
    if not scenes:
        return f'{{\n  "version": {FORMAT_VERSION},\n  "presets": {body}\n}}\n'
    scene_texts = []
    for slot in sorted(scenes):
        scene = scenes[slot]
        decks = ",\n".join(_indent(_preset_text(preset).replace(f'"{preset.slot}":', json.dumps(deck) + ":", 1), 4)
                           for deck, preset in scene.decks.items())
        scene_texts.append(f'    "{slot}": {{\n      "crossfade": {json.dumps(scene.crossfade)},\n'
                           f'      "stored": {json.dumps(scene.stored, ensure_ascii=False)},\n'
                           f'      "decks": {{\n{decks}\n      }}\n    }}')
    return (f'{{\n  "version": {FORMAT_VERSION},\n  "presets": {body},\n'
            f'  "scenes": {{\n' + ",\n".join(scene_texts) + "\n  }\n}\n")


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.split("\n"))


def _preset_text(p: Preset) -> str:
    lines = [f'        {json.dumps(name)}: {json.dumps(value, allow_nan=False, ensure_ascii=False)}'
             for name, value in p.params.items()]
    params = "{\n" + ",\n".join(lines) + "\n      }" if lines else "{}"
    latent = json.dumps([float(v) for v in p.latent], allow_nan=False)
    return (f'    "{p.slot}": {{\n'
            f'      "model": {json.dumps(p.model, ensure_ascii=False)},\n'
            f'      "model_id": {json.dumps(p.model_id, ensure_ascii=False)},\n'
            f'      "stored": {json.dumps(p.stored, ensure_ascii=False)},\n'
            f'      "params": {params},\n'
            f'      "latent": {latent}\n'
            f'    }}')


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader or a crash sees the old file or the new one,
    never a part of either."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        replaced = True
    finally:
        if not replaced:  # the old file is intact; leave no half-written temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(temp)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a folder for this and needs no call."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the data itself is already on disk
    finally:
        os.close(fd)


def _aside(path: Path, kind: str) -> Path:
    """A free name next to ``path``: ``presets.json.<kind>-20250101T120000`` (then ``-1``, ``-2``...)."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.name}.{kind}-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{kind}-{stamp}-{n}")
        n += 1
    return candidate
