"""Browser preview over HTTP, bound to 127.0.0.1 by default.

``/`` a page with the live stream and status, ``/stream.mjpg`` an MJPEG stream, ``/frame.jpg`` the newest
frame, ``/status`` JSON. The render loop only hands over a reference to the newest frame (and copies it
when someone is watching); JPEG encoding happens on the preview's own thread, at most ``max_fps`` times a
second and only while a client wants frames, so the preview never slows the main output.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from http import HTTPStatus
from typing import Callable

import numpy as np
from PIL import Image

from ..httpguard import GuardedHandler, GuardedHTTPServer
from ..control.osc import AllowList

log = logging.getLogger("latentvj.preview")

BOUNDARY = "lvjframe"
MAX_CLIENTS = 32
"""Preview connections at once (every MJPEG viewer holds one)."""



class PreviewEncoder:
    """Holds the newest frame and encodes it to JPEG on demand, off the render thread. The render loop's
    frames are copied only while someone watches, and at most ``max_fps`` a second: the ones the encoder
    would skip anyway are not copied at all."""

    def __init__(self, *, max_fps: float = 30.0, quality: int = 85, clock: Callable[[], float] = time.monotonic):
        self.max_fps = max_fps
        self.quality = quality
        self.clock = clock
        self.copies = 0
        """Frames copied from the render loop."""
        self._next_copy = -float("inf")
        self._cond = threading.Condition()
        self._pixels: np.ndarray | None = None
        self._pixels_seq = 0
        self._jpeg = b""
        self._jpeg_seq = 0
        self._tried_seq = 0  # the newest frame the encoder has taken (encoded, or skipped as unencodable)
        self._watchers = 0
        self._stopping = False
        self.errors = 0
        """Frames that could not be encoded (skipped)."""
        self._thread = threading.Thread(target=self._encode_loop, name="preview-encoder", daemon=True)

    # Called by the render loop: must be cheap.
    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> None:
        if self._watchers == 0:
            return  # nobody is watching: no copy, no encode
        now = self.clock()
        if now < self._next_copy:
            return  # the encoder would skip it: at most max_fps frames a second are encoded
        self._next_copy = now + 1.0 / self.max_fps
        self.copies += 1
        with self._cond:
            self._pixels = pixels.copy()
            self._pixels_seq += 1
            self._cond.notify_all()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _encode_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or (
                    self._watchers and self._pixels is not None and self._pixels_seq > self._tried_seq))
                if self._stopping:
                    return
                pixels, seq = self._pixels, self._pixels_seq
                self._tried_seq = seq
            try:
                jpeg = _encode(pixels, self.quality)
            except Exception as exc:  # one frame it cannot encode must not end the preview
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    log.warning("preview: could not encode a %s frame (%s); %d so far", pixels.shape, exc,
                                self.errors)
                continue  # watchers wait on for the next frame
            with self._cond:
                self._jpeg, self._jpeg_seq = jpeg, seq
                self._cond.notify_all()

    @property
    def watched(self) -> bool:
        """Whether a client waits for a JPEG now (frames are copied and encoded only then)."""
        return self._watchers > 0

    @property
    def jpeg_seq(self) -> int:
        return self._jpeg_seq

    def next_jpeg(self, after: int, *, timeout: float = 2.0) -> tuple[bytes, int] | None:
        """The first JPEG newer than sequence number ``after`` (waits for it), or None on timeout/stop."""
        with self._cond:
            if self._watchers == 0:
                self._pixels = None  # copied during an earlier watch: stale now, never to be shown
            self._watchers += 1
            self._cond.notify_all()
            try:
                ready = self._cond.wait_for(lambda: self._stopping or self._jpeg_seq > after, timeout=timeout)
                if not ready or self._stopping:
                    return None
                return self._jpeg, self._jpeg_seq
            finally:
                self._watchers -= 1


def _encode(pixels: np.ndarray, quality: int) -> bytes:
    """uint8 (H, W, 1|3|4) as a JPEG (JPEG has no alpha: RGBA is shown as its RGB)."""
    channels = pixels.shape[2]
    if channels == 1:
        image = Image.fromarray(pixels[..., 0], "L")
    else:
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LatentVJ preview</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { margin: 0; background: #111; color: #ddd; font: 14px/1.4 system-ui, sans-serif; }
 main { display: flex; flex-wrap: wrap; justify-content: center; align-items: flex-start; gap: 12px 24px;
        padding: 16px; }
 img { width: min(92vw, calc(100vh - 40px), calc(100vw - 420px)); min-width: min(92vw, 240px);
       aspect-ratio: var(--aspect, 1); background: #000; }
 dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 0;
      width: 340px; max-width: 92vw; }
 dd { overflow-wrap: anywhere; }
 dt { color: #888; } dd { margin: 0; font-variant-numeric: tabular-nums; }
 .warn { color: #f90; }
</style></head>
<body><main>
 <img id="stream" src="/stream.mjpg" alt="LatentVJ live output">
 <dl id="status"><dt>status</dt><dd>connecting...</dd></dl>
</main>
<script>
const fields = ["model", "kind", "device", "precision", "width", "height", "target_fps", "fps", "frame",
                "mode", "seed", "speed", "shm", "osc", "frame_errors", "last_error"];
async function poll() {
  try {
    const s = await (await fetch("/status", {cache: "no-store"})).json();
    document.getElementById("stream").style.setProperty("--aspect", s.width / s.height);
    const dl = document.getElementById("status");
    dl.replaceChildren();
    for (const k of fields) {
      if (s[k] === undefined || s[k] === "") continue;
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = s[k];
      if ((k === "fps" && s.behind) || (k === "model" && s.random_init)) dd.className = "warn";
      if (k === "model" && s.random_init) dd.textContent += " (untrained placeholder)";
      dl.append(dt, dd);
    }
  } catch (e) {
    document.getElementById("status").innerHTML = "<dt>status</dt><dd class=warn>server not reachable</dd>";
  }
}
poll(); setInterval(poll, 1000);
</script></body></html>
"""


class PreviewServer:
    """The HTTP side. Binds in the constructor, so a port in use is reported before the model loads."""

    def __init__(self, encoder: PreviewEncoder, status: Callable[[], dict], *, host: str = "127.0.0.1",
                 port: int = 9001, allow: Callable[[str], bool] | None = None, max_clients: int = MAX_CLIENTS):
        """
        Args:
            allow: which client addresses may connect (the OSC allow list; by default loopback only).
            max_clients: connections served at once (each MJPEG viewer holds one); more are answered 503.
        """
        self.encoder = encoder
        self.status = status
        self._stopping = threading.Event()
        self.httpd = GuardedHTTPServer((host, port), self._handler_class(), allow=allow or AllowList(),
                                       max_clients=max_clients, what="preview")
        self.address = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="preview-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/"

    def start(self) -> None:
        self.encoder.start()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.encoder.stop()
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(GuardedHandler):
            server_version = "LatentVJ"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
                elif path == "/status":
                    body = json.dumps(server.status(), indent=1).encode()
                    self._send(HTTPStatus.OK, "application/json", body)
                elif path == "/frame.jpg":
                    frame = server.encoder.next_jpeg(server.encoder.jpeg_seq)  # a fresh one, not a stale one
                    if frame is None:
                        self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
                    else:
                        self._send(HTTPStatus.OK, "image/jpeg", frame[0])
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: try /, /stream.mjpg, /status\n")

            def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seq = server.encoder.jpeg_seq  # from the next frame on: never a JPEG made earlier for another
                try:
                    while not server._stopping.is_set():
                        frame = server.encoder.next_jpeg(seq)
                        if frame is None:
                            continue
                        jpeg, seq = frame
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                except OSError:
                    pass  # the viewer went away, or stopped reading for io_timeout seconds

        return Handler
