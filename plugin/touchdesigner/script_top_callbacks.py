"""Script TOP callbacks: show LatentVJ's shared-memory frames in TouchDesigner.

Point a Script TOP's callbacks DAT at this file (a Text DAT whose File parameter is this path), press
"Setup Parameters" on the Script TOP once, and it shows the newest frame of the stream every cook. While no
server runs it shows a dark "no signal" test pattern; when a server starts (or restarts, at any size) it
attaches by itself. See docs/touchdesigner.md.

Runs inside TouchDesigner's own Python: standard library and numpy only. It needs ``shmring.py`` (from
LatentVJ's ``plugin/`` folder), found as either

- ``latentvj.plugin.shmring``, when LatentVJ is importable (the tests; a LatentVJ checkout on sys.path), or
- a plain ``shmring`` module: ``shmring.py`` in a folder on TouchDesigner's Python path (Preferences >
  Python 64-bit Module Path, or ``sys.path`` in a startup script), or a Text DAT named ``shmring``
  next to this callbacks DAT whose File parameter points at ``shmring.py``.

TouchDesigner API used: ``scriptOp.copyNumpyArray(array)`` (uint8, (height, width, channels), row 0 is
the *bottom* row), ``scriptOp.appendCustomPage(name)`` -> page, ``page.appendStr(name, label=)`` and
``page.appendPulse(name, label=)`` -> a list-like of Par with ``.default``/``.val``,
``scriptOp.par.Streamname.eval()``, ``par.owner``, ``par.name``, and optionally ``scriptOp.addWarning``.
"""

from __future__ import annotations

import time

import numpy as np

try:
    from latentvj.plugin import shmring
except ImportError:  # inside TouchDesigner: shmring.py on the module path, or a Text DAT named shmring
    import shmring

STREAM_PAR = "Streamname"
RECONNECT_PAR = "Reconnect"
DEFAULT_STREAM = shmring.DEFAULT_NAME
NO_SIGNAL_SHAPE = (256, 256, 4)
"""(height, width, channels) of the no-signal frame before any frame has been seen; afterwards it takes
the last frame's size and channels."""
STALE_AFTER = 3.0
"""Seconds without a new frame after which a server that vanished without saying so (a crash) is shown
as no signal. A running server publishes at its target frame rate even when the image is frozen."""
RETRY_INTERVAL = 1.0
"""Seconds between attempts to attach while no server is there."""

_feeds: dict = {}
"""One Feed per Script TOP (by its id), kept on this module so it lives across cooks. Not in
``scriptOp.storage``: TouchDesigner saves storage with the project, and a live reader cannot be saved.
Editing or reloading this file starts fresh feeds, which simply attach again."""


def no_signal_frame(height: int, width: int, channels: int) -> np.ndarray:
    """A dark frame with a visible pattern, bottom row first as TouchDesigner wants it.

    Dark grey 32-pixel checks, a brighter diagonal cross corner to corner, and a red bar in the top
    eighth of the picture (so the frame also shows which way is up)."""
    if height < 1 or width < 1 or channels not in (3, 4):
        raise ValueError(f"no-signal frame needs a size of at least 1x1 and 3 or 4 channels, "
                         f"got {width}x{height}x{channels}")
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    checks = ((rows // 32 + cols // 32) % 2).astype(np.uint8)
    grey = (18 + 14 * checks).astype(np.uint8)
    # distance (in rows) from each of the two diagonals, scaled to the picture's aspect
    diag = np.abs(rows * width - cols * height) <= max(width, height) * 1.5
    anti = np.abs(rows * width - (width - 1 - cols) * height) <= max(width, height) * 1.5
    grey = np.where(diag | anti, np.uint8(90), grey)
    image = np.empty((height, width, channels), np.uint8)
    image[..., :3] = grey[..., None]
    if channels == 4:
        image[..., 3] = 255
    top = max(1, height // 8)
    image[:top, :, 0] = 160  # top-first here; flipped below
    image[:top, :, 1:3] = 24
    return np.ascontiguousarray(image[::-1])


class Feed:
    """One Script TOP's view of a stream: a reconnecting reader and what to show each cook."""

    def __init__(self, name: str, *, stale_after: float, retry_interval: float):
        """
        Args:
            name: the stream's shared-memory name (``latentvj serve --shm``, default "latentvj").
            stale_after: seconds without a new frame before showing no signal (a crashed server).
            retry_interval: seconds between attempts to attach while no server is there.
        Raises:
            ValueError: the name cannot name a stream.
        """
        self.name = name
        self.stale_after = stale_after
        self.reader = shmring.ReconnectingReader(name, bottom_up=True, retry_interval=retry_interval)
        self.live = False
        """True while frames are coming; False while the no-signal frame is shown."""
        self._attached = None  # the ShmFrameReader that _last came from
        self._last: np.ndarray | None = None  # the reader's buffer: bottom row first
        self._last_time = 0.0
        self._shape = NO_SIGNAL_SHAPE
        self._no_signal: np.ndarray | None = None

    def image(self) -> np.ndarray:
        """What to hand to copyNumpyArray now: the newest frame, the last one, or no signal."""
        frame = self.reader.read()
        now = time.monotonic()
        if self.reader.reader is not self._attached:  # detached, or a new server: forget the old picture
            self._attached = self.reader.reader
            self._last = None
        if frame is not None:
            self._last, self._last_time, self.live = frame.pixels, now, True
            self._shape = frame.pixels.shape
            return frame.pixels
        if self.reader.reader is None or self._last is None or now - self._last_time > self.stale_after:
            self.live = False
            return self.no_signal()
        return self._last  # no new frame this cook: show the last one again

    def no_signal(self) -> np.ndarray:
        if self._no_signal is None or self._no_signal.shape != self._shape:
            self._no_signal = no_signal_frame(*self._shape)
        return self._no_signal

    def close(self) -> None:
        self.reader.close()


def _key(scriptOp):
    return getattr(scriptOp, "id", None) or id(scriptOp)


def _stream_name(scriptOp) -> str:
    par = getattr(scriptOp.par, STREAM_PAR, None)
    if par is None:  # "Setup Parameters" not pressed yet
        return DEFAULT_STREAM
    return str(par.eval()).strip() or DEFAULT_STREAM


def feed_for(scriptOp) -> Feed:
    """This Script TOP's Feed, made anew when the Stream name parameter changed."""
    key = _key(scriptOp)
    name = _stream_name(scriptOp)
    feed = _feeds.get(key)
    if feed is None or feed.name != name:
        if feed is not None:
            feed.close()
        feed = _feeds[key] = Feed(name, stale_after=STALE_AFTER, retry_interval=RETRY_INTERVAL)
    return feed


def forget(scriptOp) -> None:
    """Drop this Script TOP's reader; the next cook attaches again."""
    feed = _feeds.pop(_key(scriptOp), None)
    if feed is not None:
        feed.close()


def _cook_every_frame() -> None:
    """Reading the frame counter inside onCook makes TouchDesigner cook this TOP again every frame."""
    try:
        absTime.frame  # noqa: B018, F821 - a TouchDesigner global; absent outside TouchDesigner
    except NameError:
        pass


# ---- the callbacks TouchDesigner calls ----------------------------------------------------------------

def onSetupParameters(scriptOp):
    page = scriptOp.appendCustomPage("LatentVJ")
    stream = page.appendStr(STREAM_PAR, label="Stream name")
    stream[0].default = DEFAULT_STREAM
    stream[0].val = DEFAULT_STREAM
    page.appendPulse(RECONNECT_PAR, label="Reconnect")


def onPulse(par):
    if par.name == RECONNECT_PAR:
        forget(par.owner)


def onCook(scriptOp):
    _cook_every_frame()
    try:
        feed = feed_for(scriptOp)
    except ValueError as exc:  # a stream name no stream can have
        _warn(scriptOp, str(exc))
        scriptOp.copyNumpyArray(no_signal_frame(*NO_SIGNAL_SHAPE))
        return
    try:
        image = feed.image()
    except ValueError as exc:  # a segment of that name that is not a LatentVJ stream (or another version)
        _warn(scriptOp, str(exc))  # the reader tries again once a second, not every cook
        image = feed.no_signal()
    scriptOp.copyNumpyArray(image)


def _warn(scriptOp, text: str) -> None:
    add_warning = getattr(scriptOp, "addWarning", None)
    if add_warning is not None:
        add_warning(text)
    else:
        print(f"LatentVJ: {text}")
