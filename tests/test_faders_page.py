"""examples/faders.html, used as a performer would: a real `latentvj serve`, the page in headless Chromium
(driven over its DevTools protocol), OSC over the OSCQuery WebSocket one way and echoes the other."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest
from processes import ChildProcess, ServeProcess, free_port_args, wait_until
from pythonosc.udp_client import SimpleUDPClient

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
PAGE = Path(__file__).resolve().parent.parent / "examples" / "faders.html"
TIMEOUT = 20.0
SPEED = '[data-address="/lvj/walk/speed"]'


class Chromium:
    """Headless Chromium showing one page, and Runtime.evaluate on that page over the DevTools WebSocket."""

    def __init__(self, url: str, profile: Path):
        websocket = pytest.importorskip("websocket", reason="websocket-client (dev extra)")
        self.process = ChildProcess(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
             "--remote-debugging-port=0", f"--user-data-dir={profile}", url], read="stderr")
        match = self.process.wait_for_line(r"DevTools listening on ws://([\d.]+:\d+)/", timeout=TIMEOUT)

        def page_target():
            with urllib.request.urlopen(f"http://{match[1]}/json/list", timeout=5) as reply:
                return next((t for t in json.load(reply) if t["type"] == "page"), None)

        target = wait_until(page_target, "Chromium's page", timeout=TIMEOUT)
        # DevTools refuses WebSockets that carry an Origin (unless allowed on the command line).
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True)
        self._ids = iter(range(1, 1 << 30))

    def call(self, method: str, **params) -> dict:
        """One DevTools command on the page; its result."""
        call = next(self._ids)
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while (reply := json.loads(self.ws.recv())).get("id") != call:
            pass  # an event
        return reply["result"]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.process.stop(timeout=10)


@pytest.fixture
def chromium_available():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"needs headless Chromium at {CHROMIUM}: apt-get install chromium (Debian package "
                    "`chromium`)")


def test_the_preview_page_shows_the_stream_and_the_status_in_a_1200x900_window(chromium_available, shm_name,
                                                                             tiny_gan_path, tmp_path):
    """Issue 9, bug 11: the preview page's status list ran below the fold of a 1200x900 window."""
    server = ServeProcess("--model", tiny_gan_path, "--shm", shm_name, *free_port_args())
    browser = None
    try:
        server.ready()
        browser = Chromium(server.preview, tmp_path / "profile")
        browser.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
        wait_until(lambda: "tiny" in browser.evaluate("(document.getElementById('status') || {}).textContent"
                                                      " || ''"), "the status to be filled in")
        inside = browser.evaluate(
            "(() => { const r = [...document.querySelectorAll('#status dd, #stream')]"
            ".map(e => e.getBoundingClientRect()); return [innerWidth, innerHeight,"
            " Math.max(...r.map(b => b.bottom)), Math.max(...r.map(b => b.right))]; })()")
        width, height, bottom, right = inside
        assert (width, height) == (1200, 900)
        assert bottom <= height and right <= width, f"status or stream outside the window: {inside}"
    finally:
        if browser is not None:
            browser.close()
        server.stop()


def preview_status(preview: str) -> dict:
    with urllib.request.urlopen(preview + "status", timeout=5) as reply:
        return json.load(reply)


def _tone(path: Path) -> Path:
    """A second of a 220 Hz tone: a song for the audio meters."""
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes((0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 48000) * 32767).astype("<i2").tobytes())
    return path


def test_faders_page_controls_the_server_and_follows_its_changes(chromium_available, shm_name, tiny_gan_path,
                                                                 tmp_path):
    server = ServeProcess("--model", tiny_gan_path, "--shm", shm_name, "--allow-file-pages", *free_port_args(),
                          "--audio-file", str(_tone(tmp_path / "tone.wav")))
    browser = None
    try:
        server.ready()
        preview, osc_port = server.preview, server.osc_port
        oscquery_port = int(re.search(r":(\d+)/$", server.oscquery)[1])
        browser = Chromium(f"{PAGE.as_uri()}?host=127.0.0.1:{oscquery_port}", tmp_path / "profile")

        # The faders are built from the tree, and the WebSocket is up: the status line shows /lvj/status replies.
        wait_until(lambda: browser.evaluate(f"document.querySelector('{SPEED}') !== null"), "the faders")
        wait_until(lambda: "tiny" in browser.evaluate("document.getElementById('status').textContent"),
                 "the status line to name the model")
        assert browser.evaluate(f"document.querySelector('{SPEED}').type") == "range"
        assert browser.evaluate("document.querySelector('[data-address=\"/lvj/walk/mode\"]').tagName") == "SELECT"

        # The performer moves the speed fader: OSC over the WebSocket changes the server.
        browser.evaluate(f"(() => {{ const f = document.querySelector('{SPEED}'); f.value = 2.5;"
                         f" f.dispatchEvent(new Event('input')); }})()")
        wait_until(lambda: abs(preview_status(preview)["speed"] - 2.5) < 1e-3, "the server's speed to be 2.5")

        browser.evaluate("(() => { const m = document.querySelector('[data-address=\"/lvj/walk/mode\"]');"
                         " m.value = 'hold'; m.dispatchEvent(new Event('change')); })()")
        wait_until(lambda: preview_status(preview)["mode"] == "hold", "the server's walk mode to be hold")

        # Another controller changes it over UDP: the echo moves the fader.
        SimpleUDPClient("127.0.0.1", osc_port).send_message("/lvj/walk/speed", -1.5)
        wait_until(lambda: browser.evaluate(f"+document.querySelector('{SPEED}').value") == -1.5,
                 "the fader to follow the change made over UDP")

        # Issue 9, bug 11: the seed is a box, not a fader over 0..2^31; only the model's own truncation or
        # temperature shows; a preset slot is sent by its button, not by every spinner step.
        assert browser.evaluate("document.querySelector('[data-address=\"/lvj/seed\"]').type") == "number"
        wait_until(lambda: browser.evaluate("document.querySelector('[data-address=\"/lvj/temperature\"]')"
                                            ".closest('label').hidden") is True, "temperature hidden for a GAN")
        assert browser.evaluate("document.querySelector('[data-address=\"/lvj/truncation\"]')"
                                ".closest('label').hidden") is False
        store = "document.querySelector('[data-address=\"/lvj/preset/store\"]')"
        browser.evaluate(f"(() => {{ const box = {store}; for (const n of [2, 3, 4]) {{ box.value = n;"
                         " box.dispatchEvent(new Event('input')); box.dispatchEvent(new Event('change')); } })()")
        browser.evaluate(f"send('/lvj/status')")
        wait_until(lambda: preview_status(preview)["frame"] > 0, "a frame")
        assert preview_status(preview)["preset"] == 0, "spinner steps store nothing"
        browser.evaluate("document.querySelector('[data-sends=\"/lvj/preset/store\"]').click()")
        wait_until(lambda: preview_status(preview)["preset"] == 4, "the button stores slot 4")

        # A value the server refuses: its /lvj/error is shown on the page.
        browser.evaluate("send('/lvj/walk/speed', [['f', 99]])")
        wait_until(lambda: "/lvj/walk/speed:" in browser.evaluate("document.getElementById('errors').textContent"),
                 "the error to be shown")

        # A route typed into the page plays, is listed (the echo of /lvj/mod/routes) and what it draws is
        # shown beside the value set; "clear all" removes it.
        browser.evaluate("(() => { document.getElementById('route').value = 'lfo:square:4 output/fade amount=-0.5';"
                         " document.getElementById('add-route').click(); })()")
        wait_until(lambda: "output/fade" in preview_status(preview)["modulated"], "the route to play")
        wait_until(lambda: "lfo:square:4 output/fade" in browser.evaluate(
            "document.getElementById('routes').textContent"), "the page to list the route")
        wait_until(lambda: "output/fade drawn at 0.500" in browser.evaluate(
            "document.getElementById('drawn').textContent"), "the page to show the fade drawn half-way down")
        wait_until(lambda: browser.evaluate("+(document.querySelector('meter[data-feature=\"level\"]') || {}).value")
                   > 0.5, "the audio meter to show the tone")
        browser.evaluate("document.getElementById('clear-routes').click()")
        wait_until(lambda: browser.evaluate("document.getElementById('routes').textContent") == "(no routes)",
                   "the routes to be cleared")
        assert not preview_status(preview)["modulated"]

        # The server goes away: the page says so (and keeps retrying).
        assert server.stop() == 0
        wait_until(lambda: browser.evaluate("document.getElementById('problem').hidden") is False,
                 "the page to say the server is gone")
        assert "Retrying" in browser.evaluate("document.getElementById('problem').textContent")
    finally:
        if browser is not None:
            browser.close()
        server.stop()
