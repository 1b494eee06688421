"""examples/faders.html, used as a performer would: a real `latentvj serve`, the page in headless Chromium
(driven over its DevTools protocol), OSC over the OSCQuery WebSocket one way and echoes the other."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pythonosc.udp_client import SimpleUDPClient

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
PAGE = Path(__file__).resolve().parent.parent / "examples" / "faders.html"
TIMEOUT = 20.0
SPEED = '[data-address="/lvj/walk/speed"]'


class Serve:
    """`latentvj serve` on free ports (as tests/test_serve_e2e.py's ServeProcess, trimmed to what this needs)."""

    def __init__(self, *args: str):
        script = shutil.which("latentvj", path=os.path.dirname(sys.executable))
        command = [script] if script else [sys.executable, "-m", "latentvj.bridge.cli"]
        self.proc = subprocess.Popen(command + ["serve", "--osc-port", "0", "--http-port", "0", "--oscquery-port",
                                                "0", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + TIMEOUT
        try:
            while (line := self._lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
                if match := re.search(pattern, line):
                    return match
        except queue.Empty:
            pass
        raise AssertionError(f"no line matching {pattern!r} from serve:\n{''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=TIMEOUT)


def wait_for(condition, what: str, timeout: float = TIMEOUT):
    """Poll ``condition`` until it returns something true (across processes there is no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Chromium:
    """Headless Chromium showing one page, and Runtime.evaluate on that page over the DevTools WebSocket."""

    def __init__(self, url: str, profile: Path):
        websocket = pytest.importorskip("websocket", reason="websocket-client (dev extra)")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
             "--remote-debugging-port=0", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + TIMEOUT
        while (line := lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            if match := re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line):
                break
        else:
            raise AssertionError(f"Chromium exited ({self.proc.wait()}):\n{''.join(self.stderr)}")

        def page_target():
            with urllib.request.urlopen(f"http://{match[1]}/json/list", timeout=5) as reply:
                return next((t for t in json.load(reply) if t["type"] == "page"), None)

        target = wait_for(page_target, "Chromium's page")
        # DevTools refuses WebSockets that carry an Origin (unless allowed on the command line).
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True)
        self._ids = iter(range(1, 1 << 30))

    def _pump(self, lines: queue.Queue) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            lines.put(line)
        lines.put(None)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        call = next(self._ids)
        self.ws.send(json.dumps({"id": call, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}))
        while (reply := json.loads(self.ws.recv())).get("id") != call:
            pass  # an event
        result = reply["result"]
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def chromium_available():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"needs headless Chromium at {CHROMIUM}: apt-get install chromium (Debian package "
                    "`chromium`)")


def preview_status(preview: str) -> dict:
    with urllib.request.urlopen(preview + "status", timeout=5) as reply:
        return json.load(reply)


def test_faders_page_controls_the_server_and_follows_its_changes(chromium_available, shm_name, tiny_gan_path,
                                                                 tmp_path):
    server = Serve("--model", tiny_gan_path, "--shm", shm_name)
    browser = None
    try:
        oscquery_port = int(server.wait_for_line(r"OSCQuery:\s+http://127\.0\.0\.1:(\d+)/")[1])
        banner = "".join(server.output)  # preview and OSC come before OSCQuery in the banner
        preview = re.search(r"preview:\s+(http://127\.0\.0\.1:\d+/)", banner)[1]
        osc_port = int(re.search(r"OSC:\s+udp 127\.0\.0\.1:(\d+)", banner)[1])
        browser = Chromium(f"{PAGE.as_uri()}?host=127.0.0.1:{oscquery_port}", tmp_path / "profile")

        # The faders are built from the tree, and the WebSocket is up: the status line shows /lvj/status replies.
        wait_for(lambda: browser.evaluate(f"document.querySelector('{SPEED}') !== null"), "the faders")
        wait_for(lambda: "tiny" in browser.evaluate("document.getElementById('status').textContent"),
                 "the status line to name the model")
        assert browser.evaluate(f"document.querySelector('{SPEED}').type") == "range"
        assert browser.evaluate("document.querySelector('[data-address=\"/lvj/walk/mode\"]').tagName") == "SELECT"

        # The performer moves the speed fader: OSC over the WebSocket changes the server.
        browser.evaluate(f"(() => {{ const f = document.querySelector('{SPEED}'); f.value = 2.5;"
                         f" f.dispatchEvent(new Event('input')); }})()")
        wait_for(lambda: abs(preview_status(preview)["speed"] - 2.5) < 1e-3, "the server's speed to be 2.5")

        browser.evaluate("(() => { const m = document.querySelector('[data-address=\"/lvj/walk/mode\"]');"
                         " m.value = 'hold'; m.dispatchEvent(new Event('change')); })()")
        wait_for(lambda: preview_status(preview)["mode"] == "hold", "the server's walk mode to be hold")

        # Another controller changes it over UDP: the echo moves the fader.
        SimpleUDPClient("127.0.0.1", osc_port).send_message("/lvj/walk/speed", -1.5)
        wait_for(lambda: browser.evaluate(f"+document.querySelector('{SPEED}').value") == -1.5,
                 "the fader to follow the change made over UDP")

        # A value the server refuses: its /lvj/error is shown on the page.
        browser.evaluate("send('/lvj/walk/speed', [['f', 99]])")
        wait_for(lambda: "/lvj/walk/speed:" in browser.evaluate("document.getElementById('errors').textContent"),
                 "the error to be shown")

        # The server goes away: the page says so (and keeps retrying).
        assert server.stop() == 0
        wait_for(lambda: browser.evaluate("document.getElementById('problem').hidden") is False,
                 "the page to say the server is gone")
        assert "Retrying" in browser.evaluate("document.getElementById('problem').textContent")
    finally:
        if browser is not None:
            browser.close()
        server.stop()
