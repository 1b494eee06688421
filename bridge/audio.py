"""Live audio in: features from small blocks of sound, for the modulation matrix.

:class:`AudioFeatures` is pure numpy: each block (512 samples, 10.7 ms at 48 kHz) updates

- ``level``: the block's RMS;
- ``low``, ``mid``, ``high``: the energy below 200 Hz, 200 Hz - 2 kHz and above 2 kHz, from a Hann-windowed
  FFT of the last 1,024 samples;
- ``mel1`` .. ``mel8``: the energy in eight mel bands from 40 Hz to 8 kHz (triangular filters, each
  overlapping its neighbours by half), for routes that follow one part of the sound (a hi-hat, a voice);
- ``flux``: spectral flux (the sum of the magnitude spectrum's rises since the last block);
- ``onset``: 1 on an onset, decaying over 150 ms: an onset is a flux above an adaptive threshold (the median
  of the last second's flux plus 4 median absolute deviations, three times that median, a fifth of the
  loudest flux lately, and the gate) in a window that got louder, at most one per 80 ms.

Each feature but ``onset`` is normalised to 0..1 by a running range (the highest value seen, decaying by
half every 10 s, and 0), so routes work without hand-tuning a gain; blocks under the gate (-80 dBFS RMS
by default; ``--audio-gate`` and ``/lvj/audio/gate`` set it) count as silence, for a room whose hum must
not move the image. The modulation sources are ``audio:level``, ``audio:low`` ... ``audio:onset``.

:class:`AudioTempo` is the tempo clock's ``audio`` source (``--tempo audio``): the beat estimated from the
onsets of the last 8 seconds (:func:`estimate_beat`: the period on whose grid the onsets line up best,
between 60 and 180 BPM, leaning towards 120 when two fit alike, and the grid's phase).

Where the blocks come from: :class:`AudioInput` (the ``audio`` extra: sounddevice over PortAudio, which
reaches ALSA, JACK, CoreAudio and WASAPI; imported only when asked for) or :class:`AudioFile` (a WAV read at
its own pace, for rehearsal and tests). Both run the features on the audio's own thread and hand the newest
values over; nothing here waits for the render loop.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import wave
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("latentvj.audio")

BLOCK = 512
WINDOW = 1024
BANDS = (("low", 0.0, 200.0), ("mid", 200.0, 2000.0), ("high", 2000.0, math.inf))
MELS = 8
MEL_RANGE = (40.0, 8000.0)
FEATURES = ("level", "low", "mid", "high", *(f"mel{n}" for n in range(1, MELS + 1)), "flux", "onset")
GATE_DB = -80.0
ONSET_DECAY_S = 0.15
ONSET_GAP_S = 0.08
RANGE_HALF_LIFE_S = 10.0
INSTALL = "live audio needs the audio extra: pip install 'latentvj[audio]' (and PortAudio: libportaudio2)"


TEMPO_RANGE = (60.0, 180.0)
TEMPO_WINDOW_S = 8.0
TEMPO_MIN_ONSETS = 6
TEMPO_HIT = 0.08
"""How near a grid line (in beats) an onset must be to be on the beat."""
TEMPO_MIN_FIT = 0.35
"""The least score (onsets on the grid x the square of the grid lines with an onset) that makes a beat."""


class AudioError(RuntimeError):
    pass


class AudioFeatures:
    def __init__(self, samplerate: float = 48000.0, *, gate_db: float = GATE_DB):
        self.samplerate = float(samplerate)
        self.gate = 10.0 ** (gate_db / 20.0)
        """RMS under which a block is silence (set it with :meth:`set_gate`, from any thread)."""
        self._history = np.zeros(WINDOW, dtype=np.float32)
        self._window = np.hanning(WINDOW).astype(np.float32)
        freqs = np.fft.rfftfreq(WINDOW, 1.0 / self.samplerate)
        self._bands = [(name, (freqs >= lo) & (freqs < hi)) for name, lo, hi in BANDS]
        self._mels = mel_filters(freqs, min(MEL_RANGE[1], self.samplerate / 2))
        self._last_spectrum: np.ndarray | None = None
        self._flux: deque[float] = deque(maxlen=max(8, int(self.samplerate / BLOCK)))  # a second of flux
        self._peaks = {name: 0.0 for name in FEATURES if name != "onset"}
        self._since_onset = math.inf
        self.time = 0.0
        """Seconds of audio seen."""
        self.onsets: list[float] = []
        """When each onset was heard (seconds of audio), the last few hundred."""
        self.values = {name: 0.0 for name in FEATURES}
        self.fed_at: float | None = None
        """When (the monotonic clock) the last block was fed: the feeder sets it, for AudioTempo."""

    def feed(self, block: np.ndarray) -> dict[str, float]:
        """One block of mono samples (any length; BLOCK is the designed one): the features after it."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        n = len(block)
        if n == 0:
            return self.values
        dt = n / self.samplerate
        self.time += dt
        if n >= WINDOW:
            self._history[:] = block[-WINDOW:]
        else:
            self._history = np.concatenate([self._history[n:], block])
        rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
        # The spectral features look at the whole window, so the gate does too: a click at the end of a
        # block reaches the window's middle (and its flux) only in the next block, which may be silent.
        sound = float(np.sqrt(np.mean(self._history.astype(np.float64) ** 2))) >= self.gate
        spectrum = np.abs(np.fft.rfft(self._history * self._window))
        raw = {"level": rms if rms >= self.gate else 0.0}
        for name, mask in self._bands:
            raw[name] = float(np.sqrt(np.sum(spectrum[mask] ** 2))) if sound else 0.0
        mels = np.sqrt(self._mels @ (spectrum ** 2)) if sound else np.zeros(MELS)
        for n, value in enumerate(mels, 1):
            raw[f"mel{n}"] = float(value)
        flux, louder = 0.0, True
        if self._last_spectrum is not None:
            flux = float(np.sum(np.maximum(0.0, spectrum - self._last_spectrum)))
            louder = float(np.sum(spectrum ** 2)) > float(np.sum(self._last_spectrum ** 2))
        self._last_spectrum = spectrum
        raw["flux"] = flux if sound else 0.0
        # Onsets: the flux against an adaptive threshold over the last second.
        self._since_onset += dt
        history = np.fromiter(self._flux, dtype=np.float64) if self._flux else np.zeros(1)
        median = float(np.median(history))
        spread = float(np.median(np.abs(history - median)))
        # ... and three times the median and a fifth of the loudest flux lately, so the fizz of a noise floor
        # is never an onset; none in the first quarter second, while the history fills.
        threshold = max(median + 4.0 * spread, 3.0 * median, 0.2 * self._peaks["flux"] * decay_of(dt)) + 1e-6
        # An onset makes the window louder: the smeared spectrum of a sound that stops has flux too.
        onset = (raw["flux"] > threshold and sound and louder and self._since_onset >= ONSET_GAP_S
                 and len(self._flux) * BLOCK / self.samplerate >= 0.25)
        self._flux.append(raw["flux"])
        if onset:
            self._since_onset = 0.0
            self.onsets.append(self.time - dt)
            del self.onsets[:-512]
        decay = decay_of(dt)
        values = {}
        for name, value in raw.items():
            self._peaks[name] = max(value, self._peaks[name] * decay)
            values[name] = value / self._peaks[name] if self._peaks[name] > 0 else 0.0
        values["onset"] = math.exp(-self._since_onset / ONSET_DECAY_S) if math.isfinite(self._since_onset) else 0.0
        self.values = values
        return values


    def set_gate(self, db: float) -> None:
        """The gate in dBFS (RMS): quieter blocks are silence."""
        self.gate = 10.0 ** (float(db) / 20.0)


def estimate_beat(onsets: list[float], *, bpm_range: tuple[float, float] = TEMPO_RANGE
                  ) -> tuple[float, float, float] | None:
    """(BPM, the time of a beat, the share of onsets on its grid) from onset times in seconds, or None when
    they make no beat. Each candidate tempo's grid is laid where the onsets' phases average; it scores the
    share of onsets within TEMPO_HIT of a grid line, times the share of its grid lines that have an onset
    squared (a grid of twice the tempo holds every onset but leaves half its lines empty), leaning towards
    120 BPM (a Gaussian of one octave) when two score alike. The best is refined to a hundredth of a BPM."""
    times = np.asarray(onsets, dtype=np.float64)
    if len(times) < TEMPO_MIN_ONSETS:
        return None
    times = times - times[-1]
    span = -times[0]

    def grid(bpms: np.ndarray):
        beats = times[None, :] * (bpms[:, None] / 60.0)
        phase = np.angle(np.exp(2j * np.pi * beats).mean(axis=1)) / (2 * np.pi)
        return beats - phase[:, None], phase

    def score(bpms: np.ndarray) -> np.ndarray:
        beats, _ = grid(bpms)
        line = np.round(beats)
        near = np.abs(beats - line) < TEMPO_HIT
        first = np.ones_like(near)
        first[:, 1:] = line[:, 1:] != line[:, :-1]  # the onsets are in time order: a line's first onset
        lines = (near & first).sum(axis=1)
        return near.mean(axis=1) * np.minimum(1.0, lines / (np.floor(span * bpms / 60.0) + 1)) ** 2

    coarse = np.arange(bpm_range[0], bpm_range[1] + 1e-9, 0.25)
    prior = np.exp(-0.5 * np.log2(coarse / 120.0) ** 2)
    scores = score(coarse)
    best = coarse[np.argmax(scores * prior)]
    fine = np.arange(best - 1.0, best + 1.0, 0.01)
    beats, phases = grid(fine)
    spread = np.abs(np.exp(2j * np.pi * beats).mean(axis=1))  # how tightly the onsets sit on each grid
    k = int(np.argmax(spread))
    bpm, on_grid = float(fine[k]), float(score(fine[k:k + 1])[0])
    if on_grid < TEMPO_MIN_FIT:
        return None
    return bpm, float(onsets[-1]) + float(phases[k]) * 60.0 / bpm, on_grid


class AudioTempo:
    """The tempo clock's ``audio`` source: a beat estimated from the onsets heard lately (see estimate_beat),
    as a SourceReading; quiet (None) while the sound fits no beat. The position counts beats on from the
    first estimate and moves towards the grid of the newest one, so it never jumps by whole beats."""

    def __init__(self, features: AudioFeatures):
        self.features = features
        self._estimate: tuple[float, float, float] | None = None
        self._newest: float | None = None  # the newest onset the estimate was made with
        self._position: tuple[float, float] | None = None  # (audio seconds, beat position) of the last answer

    def reading(self, now: float):
        from .clock import SourceReading

        fed_at = self.features.fed_at
        if fed_at is None:
            return None
        heard = self.features.time + (now - fed_at)  # the audio's seconds now
        onsets = [t for t in list(self.features.onsets) if t > heard - TEMPO_WINDOW_S]
        if not onsets or heard - onsets[-1] >= 2.0:
            self._estimate = None  # two seconds without an onset: the music stopped
        elif onsets[-1] != self._newest:  # estimate again only when something new was heard
            self._newest = onsets[-1]
            self._estimate = estimate_beat(onsets)
        if self._estimate is None:
            return None
        bpm, beat_at, _fit = self._estimate
        grid = (heard - beat_at) * bpm / 60.0  # beats since a beat of the grid
        if self._position is None:
            position = grid
        else:
            was_at, was = self._position
            position = was + (heard - was_at) * bpm / 60.0
            position += (grid - position + 0.5) % 1.0 - 0.5  # onto the grid, by less than half a beat
        self._position = (heard, position)
        return SourceReading(bpm=bpm, position=position)


def mel_filters(freqs: np.ndarray, top: float) -> np.ndarray:
    """MELS triangular filters (rows) over the FFT bins at ``freqs``, equally spaced on the mel scale from
    MEL_RANGE's low end to ``top`` Hz."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10.0 ** (np.linspace(mel(MEL_RANGE[0]), mel(top), MELS + 2) / 2595.0) - 1.0)
    filters = np.zeros((MELS, len(freqs)), dtype=np.float32)
    for n in range(MELS):
        low, mid, high = edges[n:n + 3]
        rise = (freqs - low) / (mid - low)
        fall = (high - freqs) / (high - mid)
        filters[n] = np.clip(np.minimum(rise, fall), 0.0, 1.0)
    return filters


def decay_of(dt: float) -> float:
    """How much of a running range is left after ``dt`` seconds (half every RANGE_HALF_LIFE_S)."""
    return 0.5 ** (dt / RANGE_HALF_LIFE_S)


class AudioFile:
    """A WAV (16-bit PCM or float) played into the features at its own pace on a thread ("audio-file"), so
    routes move as they would with the song playing; loops at the end. Nothing is played out loud."""

    def __init__(self, path: Path, on_features: Callable[[dict[str, float]], None], *, loop: bool = True,
                 now: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.samples, self.samplerate = read_wav(self.path)
        self.features = AudioFeatures(self.samplerate)
        self._on = on_features
        self._loop = loop
        self._now = now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audio-file", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start, position = self._now(), 0
        while not self._stop.is_set():
            due = start + (position + BLOCK) / self.samplerate
            if self._stop.wait(max(0.0, due - self._now())):
                break
            block = self.samples[position:position + BLOCK]
            self._on(self.features.feed(block))
            self.features.fed_at = self._now()
            position += BLOCK
            if position >= len(self.samples):
                if not self._loop:
                    break
                start, position = self._now(), 0

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)


class AudioInput:
    """A live input (the ``audio`` extra: sounddevice); the features run in PortAudio's callback thread."""

    def __init__(self, device: str, on_features: Callable[[dict[str, float]], None], *, channel: int = 0,
                 samplerate: float | None = None):
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # use the JACK that runs; never start one
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
            raise AudioError(f"{INSTALL} ({exc})") from None
        try:
            chosen = None if device == "auto" else _find_device(sounddevice, device)
            info = sounddevice.query_devices(chosen, "input")
        except Exception as exc:
            raise AudioError(f"no audio input {device!r}: {exc}; inputs: {', '.join(list_inputs())}") from None
        rate = float(samplerate or info["default_samplerate"])
        self.name = info["name"]
        self.features = AudioFeatures(rate)
        self._channel = channel
        self._on = on_features

        def callback(indata, frames, when, status):
            self._on(self.features.feed(indata[:, min(self._channel, indata.shape[1] - 1)]))
            self.features.fed_at = time.monotonic()

        self._stream = sounddevice.InputStream(device=chosen, channels=min(info["max_input_channels"], channel + 1),
                                               samplerate=rate, blocksize=BLOCK, dtype="float32", callback=callback)
        self._stream.start()
        log.info("audio in from %s at %g Hz", self.name, rate)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def _find_device(sounddevice, name: str) -> int:
    for index, info in enumerate(sounddevice.query_devices()):
        if info["max_input_channels"] > 0 and name.lower() in info["name"].lower():
            return index
    raise ValueError("no input device of that name")


def list_inputs() -> list[str]:
    """The audio inputs there are (``latentvj audio-devices``)."""
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        return [f"({INSTALL}: {exc})"]
    return [f"{i}: {d['name']} ({d['max_input_channels']} in)" for i, d in enumerate(sounddevice.query_devices())
            if d["max_input_channels"] > 0]


def read_wav(path: Path) -> tuple[np.ndarray, float]:
    """Mono float32 samples and the sample rate of a PCM WAV (8, 16, 24 or 32-bit); ValueError otherwise."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, count = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(),
                                            wav.getnframes())
            data = wav.readframes(count)
    except (OSError, EOFError, wave.Error) as exc:
        raise ValueError(f"{path}: not a WAV file this can read ({exc})") from None
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        ints = (raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8) | (raw[:, 2].astype(np.int32) << 16))
        samples = (np.where(ints >= 1 << 23, ints - (1 << 24), ints)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = np.frombuffer(data, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{path}: {width * 8}-bit samples are not supported")
    return samples.reshape(-1, channels).mean(axis=1), float(rate)
