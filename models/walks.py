"""Latent walks: where the generator's input point is at a given clock time.

Latents live in N(0, I) of dimension d (norm about sqrt(d)). A walk is a pure function of clock time, never
of frame count, so motion speed does not depend on the frame rate, and it is deterministic for a seed.

Two clocks:
- clock time ``t``: the engine's frame time in seconds. Blends (morphs, mode switches) run on it.
- walk seconds ``phi``: the integral of speed over clock time. The motion runs on it, so a speed change
  changes how fast ``phi`` grows but never where it is: speed changes cannot jump, speed 0 pauses the
  motion and a negative speed runs it backwards.

A walk is a small tree of immutable segments. Leaves are functions of ``phi`` around a centre latent (the
seed's point): ``Drift``, ``Loop``, ``Noise``, ``Keyframes``, ``Hold``. A change blends the new leaf in from
the old walk, which keeps moving during the blend (``Blend``). ``Walker`` owns the tree and the events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Sequence, Union

import numpy as np

MODES = ("drift", "loop", "noise", "keyframes", "hold")

SPREAD = 0.7
"""How far drift, loop and noise move from the centre: z = sqrt(1 - SPREAD^2) centre + SPREAD motion, with
unit variance per dimension in both, so z stays N(0, I)-like."""
DRIFT_WAVES = 8
"""Cosines summed per dimension in drift mode."""
DRIFT_CYCLES = (0.03, 0.25)
"""Range of drift frequencies, cycles per walk second."""
NOISE_LATTICE = 3
"""Gradient-noise lattice points around one noise loop."""
KEYFRAME_COUNT = 4
"""Keyframes derived from the seed (seed, seed + 1, ...) when no explicit list is given."""
SWITCH_TIME = 1.0
"""Longest blend of a mode or period change, seconds; they take min(morph_time, SWITCH_TIME)."""
MAX_BLEND_DEPTH = 3
"""Blends nested deeper than this freeze their oldest part at its current point (continuous, and bounds
the cost of one evaluation however fast changes arrive)."""

_DRIFT_STREAM, _LOOP_STREAM, _NOISE_STREAM = 1, 2, 3  # independent random streams derived from a seed
_PARALLEL = 1e-6  # sin(angle) below which slerp falls back to lerp


# ---- small pure functions ----------------------------------------------------------------------------

def seed_latent(seed: int, dim: int) -> np.ndarray:
    """The latent point of a seed: float32 standard normal of shape (dim,), from ``np.random.default_rng``
    (the same on every run and platform)."""
    return _seed_latent(_check_seed(seed, "seed"), _check_dim(dim)).astype(np.float32)


def _seed_latent(seed: int, dim: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim)


def ease(u: float) -> float:
    """Cosine ease 0..1 with zero velocity at both ends; ``u`` is clamped to 0..1 (NaN counts as 0)."""
    if not u > 0.0:
        return 0.0
    if u >= 1.0:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * u)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1): the direction moves along the great circle
    and the norm moves linearly, so two N(0, I) latents blend without passing near the origin. Falls back to
    a straight line when the two are (nearly) parallel or opposite, or one is zero."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"slerp needs two vectors of the same shape, got {a.shape} and {b.shape}")
    t = _check_finite(t, "t")
    out_dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return _slerp(a.astype(np.float64), b.astype(np.float64), t).astype(out_dtype)


def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    na = math.sqrt(float(a @ a))
    nb = math.sqrt(float(b @ b))
    if na < 1e-12 or nb < 1e-12:
        return a + t * (b - a)
    ua = a / na
    ub = b / nb
    # The angle from atan2 stays accurate near 0 and pi, where acos of a dot product does not.
    diff = ua - ub
    total = ua + ub
    omega = 2.0 * math.atan2(math.sqrt(float(diff @ diff)), math.sqrt(float(total @ total)))
    sin_omega = math.sin(omega)
    if sin_omega < _PARALLEL:
        return a + t * (b - a)
    norm = (1.0 - t) * na + t * nb
    return (norm * math.sin((1.0 - t) * omega) / sin_omega) * ua + (norm * math.sin(t * omega) / sin_omega) * ub


def _cycle_fraction(phi: float, period: float) -> float:
    """Where ``phi`` is in a loop of ``period`` walk seconds, 0 <= f < 1."""
    f = (phi / period) % 1.0
    return 0.0 if f >= 1.0 else f  # % can round up to exactly 1.0 for tiny negative phi


# ---- segments: immutable, evaluated at (clock time t, walk seconds phi) ----------------------------
# ``key`` names what a leaf is built from; two leaves with equal (non-None) keys are the same walk.

@dataclass(frozen=True, eq=False)
class Hold:
    """Stands still at ``point``."""

    point: np.ndarray
    """The latent, float64 (d,)."""
    key: tuple | None = None

    def at(self, t: float, phi: float) -> np.ndarray:
        return self.point


@dataclass(frozen=True, eq=False)
class Drift:
    """Smooth random walk around a centre: z = sqrt(1 - SPREAD^2) centre + SPREAD n(phi), where each
    dimension of n is a sum of DRIFT_WAVES cosines with random frequencies and phases, scaled to unit
    variance. Stationary: it never wanders off where latents live."""

    base: np.ndarray
    """sqrt(1 - SPREAD^2) * centre, (d,)."""
    cycles: np.ndarray
    """Frequencies, cycles per walk second, (d, DRIFT_WAVES)."""
    phase: np.ndarray
    """Phases, cycles (0..1), (d, DRIFT_WAVES)."""
    gain: float
    """SPREAD * sqrt(2 / DRIFT_WAVES): unit variance per dimension before SPREAD."""
    key: tuple | None = None

    @classmethod
    def around(cls, seed: int, dim: int) -> Drift:
        rng = np.random.default_rng((seed, _DRIFT_STREAM))
        cycles = rng.uniform(*DRIFT_CYCLES, size=(dim, DRIFT_WAVES))
        phase = rng.uniform(0.0, 1.0, size=(dim, DRIFT_WAVES))
        return cls(base=math.sqrt(1.0 - SPREAD**2) * _seed_latent(seed, dim), cycles=cycles, phase=phase,
                   gain=SPREAD * math.sqrt(2.0 / DRIFT_WAVES), key=("drift", seed))

    def at(self, t: float, phi: float) -> np.ndarray:
        # Reduce the angle to -1/2..1/2 cycle in float64 (exact for hours of walking), then take the cosine
        # in float32, which is several times faster and as precise as the float32 result needs.
        angle = self.cycles * phi + self.phase
        angle -= np.rint(angle)
        waves = np.cos(angle.astype(np.float32) * np.float32(2.0 * math.pi))
        return self.base + self.gain * waves.sum(axis=1)


@dataclass(frozen=True, eq=False)
class Loop:
    """A circle around a centre, once per ``period`` walk seconds: z = sqrt(1 - SPREAD^2) centre +
    SPREAD (cos theta u + sin theta v), u and v orthogonal seeded Gaussians of equal norm."""

    base: np.ndarray
    u: np.ndarray
    """SPREAD * u, (d,)."""
    v: np.ndarray
    """SPREAD * v, (d,)."""
    period: float
    key: tuple | None = None

    @classmethod
    def around(cls, seed: int, dim: int, period: float) -> Loop:
        rng = np.random.default_rng((seed, _LOOP_STREAM))
        u = rng.standard_normal(dim)
        v = rng.standard_normal(dim)
        if dim >= 2:  # a round circle: v orthogonal to u with the same norm (in 1-D it is a swing)
            v = v - (v @ u) / (u @ u) * u
            v *= math.sqrt(float(u @ u) / float(v @ v))
        return cls(base=math.sqrt(1.0 - SPREAD**2) * _seed_latent(seed, dim), u=SPREAD * u, v=SPREAD * v,
                   period=period, key=("loop", seed, period))

    def at(self, t: float, phi: float) -> np.ndarray:
        theta = 2.0 * math.pi * _cycle_fraction(phi, self.period)
        return self.base + math.cos(theta) * self.u + math.sin(theta) * self.v


def _fade(f: np.ndarray) -> np.ndarray:
    return f * f * f * (f * (6.0 * f - 15.0) + 10.0)


def _gradient_noise_variance() -> float:
    """Mean variance over a lattice cell of 1-D gradient noise with unit-variance gradients: the integral
    over f in 0..1 of (1 - s)^2 f^2 + s^2 (f - 1)^2, s the quintic fade. Exact polynomial integration."""
    P = np.polynomial.Polynomial
    f = P([0.0, 1.0])
    s = P([0.0, 0.0, 0.0, 10.0, -15.0, 6.0])
    integral = ((1.0 - s) ** 2 * f**2 + s**2 * (f - 1.0) ** 2).integ()
    return float(integral(1.0) - integral(0.0))


_NOISE_SCALE = 1.0 / math.sqrt(_gradient_noise_variance())


@dataclass(frozen=True, eq=False)
class Noise:
    """Seamless gradient-noise loop around a centre: per dimension, 1-D Perlin noise on a ring of
    NOISE_LATTICE lattice points travelled once per ``period`` walk seconds, quintic fade, scaled to unit
    variance. Each dimension's lattice is shifted by a random offset so the noise's zeros at lattice
    points do not line up across dimensions (the norm stays steady)."""

    base: np.ndarray
    grads: np.ndarray
    """SPREAD * scale * gradients, the ring unrolled to 2 NOISE_LATTICE + 1 lattice points (so no index
    wraps) and flattened lattice-point major: ((2 NOISE_LATTICE + 1) d,)."""
    offset: np.ndarray
    """Lattice offsets per dimension, 0..NOISE_LATTICE, (d,)."""
    period: float
    key: tuple | None = None

    @classmethod
    def around(cls, seed: int, dim: int, period: float) -> Noise:
        rng = np.random.default_rng((seed, _NOISE_STREAM))
        grads = rng.standard_normal((NOISE_LATTICE, dim)) * (SPREAD * _NOISE_SCALE)
        offset = rng.uniform(0.0, NOISE_LATTICE, size=dim)
        unrolled = grads[np.arange(2 * NOISE_LATTICE + 1) % NOISE_LATTICE]
        return cls(base=math.sqrt(1.0 - SPREAD**2) * _seed_latent(seed, dim), grads=unrolled.reshape(-1),
                   offset=offset, period=period, key=("noise", seed, period))

    def at(self, t: float, phi: float) -> np.ndarray:
        dim = self.base.shape[0]
        x = self.offset + NOISE_LATTICE * _cycle_fraction(phi, self.period)  # 0 <= x < 2 NOISE_LATTICE
        cell = np.floor(x)
        f = x - cell
        index = cell.astype(np.intp) * dim + np.arange(dim)
        near = self.grads[index] * f  # gradient ramps from the cell's two ends
        far = self.grads[index + dim] * (f - 1.0)
        return self.base + near + _fade(f) * (far - near)


@dataclass(frozen=True, eq=False)
class Keyframes:
    """Eased slerp through ``points`` in order, ``period / len(points)`` walk seconds each, then back to
    the first: a loop of ``period`` that pauses gently on every keyframe."""

    points: np.ndarray
    """The keyframe latents, (n, d)."""
    period: float
    key: tuple | None = None

    @classmethod
    def through(cls, seeds: Sequence[int], dim: int, period: float) -> Keyframes:
        points = np.stack([_seed_latent(s, dim) for s in seeds])
        return cls(points=points, period=period, key=("keyframes", tuple(seeds), period))

    def at(self, t: float, phi: float) -> np.ndarray:
        n = self.points.shape[0]
        if n == 1:
            return self.points[0]
        x = n * _cycle_fraction(phi, self.period)
        i = min(int(x), n - 1)
        return _slerp(self.points[i], self.points[(i + 1) % n], ease(x - i))


Leaf = Union[Hold, Drift, Loop, Noise, Keyframes]


@dataclass(frozen=True, eq=False)
class Blend:
    """``new`` blended in from ``old`` over ``duration`` clock seconds from ``start`` (eased slerp); the old
    walk keeps moving during the blend."""

    old: Node
    new: Leaf
    start: float
    duration: float

    def progress(self, t: float) -> float:
        return (t - self.start) / self.duration

    def at(self, t: float, phi: float) -> np.ndarray:
        w = ease(self.progress(t))
        if w <= 0.0:
            return self.old.at(t, phi)
        if w >= 1.0:
            return self.new.at(t, phi)
        return _slerp(self.old.at(t, phi), self.new.at(t, phi), w)


Node = Union[Leaf, Blend]


def _settle(node: Node, t: float) -> Node:
    """Drop blends that have finished by ``t`` (they equal their new leaf from then on)."""
    if not isinstance(node, Blend):
        return node
    if node.progress(t) >= 1.0:
        return node.new
    old = _settle(node.old, t)
    return node if old is node.old else Blend(old, node.new, node.start, node.duration)


def _depth(node: Node) -> int:
    depth = 0
    while isinstance(node, Blend):
        depth += 1
        node = node.old
    return depth


def _freeze_oldest(node: Blend, t: float, phi: float) -> Node:
    """Replace the innermost blend by a hold at its value at ``t``: same point now, one level less."""
    if isinstance(node.old, Blend):
        return Blend(_freeze_oldest(node.old, t, phi), node.new, node.start, node.duration)
    return Hold(node.at(t, phi))


# ---- argument checks ---------------------------------------------------------------------------------

def _check_finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_seed(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_dim(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"dim must be an integer >= 1, got {value!r}")
    return int(value)


def _check_mode(value: object) -> str:
    if value not in MODES:
        raise ValueError(f"unknown walk mode {value!r}; expected one of {', '.join(MODES)}")
    return str(value)


def _check_period(value: object) -> float:
    value = _check_finite(value, "period")
    if value <= 0:
        raise ValueError(f"period must be > 0 seconds, got {value}")
    return value


def _check_morph_time(value: object) -> float:
    value = _check_finite(value, "morph_time")
    if value < 0:
        raise ValueError(f"morph_time must be >= 0 seconds (0 cuts), got {value}")
    return value


def _check_keyframes(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"keyframes must be a list of seeds or None, got {value!r}")
    if len(value) == 0:
        raise ValueError("keyframes must hold at least one seed (or be None for seeds derived from the seed)")
    return tuple(_check_seed(s, f"keyframes[{i}]") for i, s in enumerate(value))


# ---- the walker --------------------------------------------------------------------------------------

class Walker:
    """The latent walk the engine owns: events change it at their clock time, ``at(t)`` reads it.

    ``at(t)`` is pure in ``t`` given the events so far: any number of calls at any rate give the same
    values, and nothing is ever jumped over. Events carry the engine's clock time and must arrive in time
    order. Every change is continuous: speed changes move the walk clock only; seed, keyframe, mode and
    period changes blend the new walk in from the old one (which keeps moving meanwhile). Seed and
    keyframe changes take ``morph_time``; mode and period changes take min(morph_time, SWITCH_TIME).
    A ``morph_time`` of 0 cuts (the jump is then intended).
    """

    def __init__(
        self,
        dim: int,
        *,
        seed: int = 0,
        mode: str = "drift",
        speed: float = 1.0,
        period: float = 8.0,
        morph_time: float = 2.0,
        keyframes: Sequence[int] | None = None,
        t0: float = 0.0,
        phase: float = 0.0,
        start_from: np.ndarray | None = None,
    ):
        """
        dim: latent size d (>= 1).
        seed: the seed whose latent point the walk moves around (an integer >= 0).
        mode: one of MODES.
        speed: walk seconds per clock second; 0 pauses the motion, negative runs it backwards.
        period: length of one loop in walk seconds (clock seconds at speed 1) in loop, noise and keyframes
            modes; > 0.
        morph_time: clock seconds a seed or keyframe change takes (mode and period changes take at most
            SWITCH_TIME); 0 cuts.
        keyframes: the seeds keyframes mode passes through; None: KEYFRAME_COUNT seeds from ``seed`` on.
        t0: clock time the walk starts at; at() and events before it are refused.
        phase: walk seconds at ``t0`` (0: the motion starts at its beginning). A walk in beats starts at
            the beat's position, so every node on one timeline is at the same place of the same walk.
        start_from: a latent point to blend from into the walk over min(morph_time, SWITCH_TIME) (a walk
            that takes over from another, on another clock), or None to start on the walk.
        """
        self._dim = _check_dim(dim)
        self._seed = _check_seed(seed, "seed")
        self._mode = _check_mode(mode)
        self._speed = _check_finite(speed, "speed")
        self._period = _check_period(period)
        self._morph_time = _check_morph_time(morph_time)
        self._keyframes = _check_keyframes(keyframes)
        t0 = _check_finite(t0, "t0")
        self._t_last = t0  # time of the latest event; the walk only goes forward from here
        self._t_anchor = t0  # walk seconds are phi_anchor + speed * (t - t_anchor)
        self._phi_anchor = _check_finite(phase, "phase")
        self._node: Node = self._leaf(self._mode)
        if start_from is not None:
            point = np.asarray(start_from, dtype=np.float64)
            if point.shape != (self._dim,):
                raise ValueError(f"expected a latent point of shape ({self._dim},), got {point.shape}")
            if self._mode == "hold":
                self._node = Hold(point.copy())
            elif self._switch_time() > 0:
                self._node = Blend(Hold(point.copy()), self._node, t0, self._switch_time())

    # ---- reading -------------------------------------------------------------------------------

    def at(self, t: float) -> np.ndarray:
        """The latent point at clock time ``t``: float32 (dim,), a fresh array."""
        t = self._check_time(t, "at")
        return self._node.at(t, self._walk_seconds(t)).astype(np.float32)

    def walk_seconds(self, t: float) -> float:
        """How far the walk has run by clock time ``t``: the integral of speed (phi)."""
        return self._walk_seconds(self._check_time(t, "walk_seconds"))

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def period(self) -> float:
        return self._period

    @property
    def morph_time(self) -> float:
        return self._morph_time

    @property
    def keyframes(self) -> tuple[int, ...] | None:
        """The explicit keyframe seeds, or None when they follow the seed."""
        return self._keyframes

    # ---- events --------------------------------------------------------------------------------

    def set_mode(self, mode: str, t: float) -> None:
        """Switch to another mode around the current seed, blended over min(morph_time, SWITCH_TIME).
        hold eases to a stop at the point the walk was at when asked."""
        mode = _check_mode(mode)
        t = self._event_time(t)
        if mode == self._mode:
            return
        self._mode = mode
        if mode == "hold":
            point = self._node.at(t, self._walk_seconds(t))
            self._change(Hold(point.copy()), t, self._switch_time())
        else:
            self._change(self._leaf(mode), t, self._switch_time())

    def set_speed(self, speed: float, t: float) -> None:
        """Change the speed from ``t`` on; the walk continues from where it is (no blend needed)."""
        speed = _check_finite(speed, "speed")
        t = self._event_time(t)
        self._phi_anchor = self._walk_seconds(t)
        self._t_anchor = t
        self._speed = speed

    def set_period(self, period: float, t: float) -> None:
        """Change the loop length; loop, noise and keyframes walks blend into the new loop over
        min(morph_time, SWITCH_TIME)."""
        period = _check_period(period)
        t = self._event_time(t)
        if period == self._period:
            return
        self._period = period
        if self._mode in ("loop", "noise", "keyframes"):
            self._change(self._leaf(self._mode), t, self._switch_time())

    def set_seed(self, seed: int, t: float) -> None:
        """Morph over morph_time from the current point to the walk around this seed's latent (in hold
        mode: to the seed's latent itself). Sending the seed the walk already heads to changes nothing,
        except that in hold mode it brings a frozen point back to the seed's latent."""
        seed = _check_seed(seed, "seed")
        t = self._event_time(t)
        self._seed = seed
        self._change(self._leaf(self._mode), t, self._morph_time)

    def set_point(self, z: np.ndarray, t: float, *, seconds: float | None = None) -> None:
        """Move to an explicit latent point and hold it (mode becomes hold), blended over ``seconds``
        (default: morph_time; 0 cuts). For latents sent by a controller or recalled from a preset."""
        point = np.asarray(z, dtype=np.float64)
        if point.shape != (self._dim,):
            raise ValueError(f"expected a latent point of shape ({self._dim},), got {point.shape}")
        if not np.all(np.isfinite(point)):
            raise ValueError("the latent point has NaN or infinite values")
        duration = self._morph_time if seconds is None else _check_morph_time(seconds)
        t = self._event_time(t)
        self._mode = "hold"
        self._change(Hold(point.copy()), t, duration)

    def set_morph_time(self, seconds: float, t: float) -> None:
        """Set how long later seed and keyframe changes take (0 cuts); blends under way keep their time."""
        seconds = _check_morph_time(seconds)
        self._event_time(t)
        self._morph_time = seconds

    def set_keyframes(self, seeds: Sequence[int] | None, t: float) -> None:
        """Set the seeds keyframes mode passes through (None: KEYFRAME_COUNT seeds from the seed on). In
        keyframes mode the walk morphs to the new list over morph_time."""
        seeds = _check_keyframes(seeds)
        t = self._event_time(t)
        self._keyframes = seeds
        if self._mode == "keyframes":
            self._change(self._leaf("keyframes"), t, self._morph_time)

    # ---- internals -----------------------------------------------------------------------------

    def _walk_seconds(self, t: float) -> float:
        return self._phi_anchor + self._speed * (t - self._t_anchor)

    def _check_time(self, t: object, what: str) -> float:
        t = _check_finite(t, "t")
        if t < self._t_last:
            raise ValueError(f"{what}(t={t}) is before the latest event at t={self._t_last}; "
                             "the walk only moves forward in clock time")
        return t

    def _event_time(self, t: object) -> float:
        t = self._check_time(t, "event")
        self._t_last = t
        return t

    def _switch_time(self) -> float:
        return min(self._morph_time, SWITCH_TIME)

    def _keyframe_seeds(self) -> tuple[int, ...]:
        if self._keyframes is not None:
            return self._keyframes
        return tuple(self._seed + i for i in range(KEYFRAME_COUNT))

    def _leaf(self, mode: str) -> Leaf:
        """The walk of ``mode`` around the current seed, period and keyframes."""
        if mode == "drift":
            return Drift.around(self._seed, self._dim)
        if mode == "loop":
            return Loop.around(self._seed, self._dim, self._period)
        if mode == "noise":
            return Noise.around(self._seed, self._dim, self._period)
        if mode == "keyframes":
            return Keyframes.through(self._keyframe_seeds(), self._dim, self._period)
        return Hold(_seed_latent(self._seed, self._dim), key=("hold", self._seed))

    def _change(self, new: Leaf, t: float, duration: float) -> None:
        """Blend ``new`` in from the current walk, starting at ``t``."""
        node = _settle(self._node, t)
        heading_to = node.new if isinstance(node, Blend) else node
        if new.key is not None and new.key == heading_to.key:
            self._node = node  # already this walk, or on the way to it
            return
        if duration == 0.0:
            self._node = new
            return
        node = Blend(node, new, t, duration)
        if _depth(node) > MAX_BLEND_DEPTH:
            node = _freeze_oldest(node, t, self._walk_seconds(t))
        self._node = node
