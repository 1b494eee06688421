"""The HTTP preview on a real socket (port 0), fed frames the way the engine feeds it."""

import io
import json
import threading
import urllib.request

import numpy as np
import pytest
from PIL import Image

from latentvj.bridge.outputs.preview import BOUNDARY, PreviewEncoder, PreviewServer


@pytest.fixture
def preview():
    encoder = PreviewEncoder(max_fps=100)
    server = PreviewServer(encoder, lambda: {"model": "tiny", "frame": 7, "mode": "drift"}, port=0)
    server.start()
    stop = threading.Event()

    def feed():  # stands in for the render loop
        n = 0
        while not stop.wait(0.005):
            n += 1
            encoder.write(np.full((24, 40, 3), n % 256, np.uint8))

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    yield server
    stop.set()
    feeder.join()
    server.stop()


def get(server, path):
    return urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10)


def test_binds_localhost_by_default(preview):
    assert preview.address[0] == "127.0.0.1"


def test_status_is_json(preview):
    with get(preview, "/status") as r:
        assert r.headers["Content-Type"] == "application/json"
        assert json.load(r) == {"model": "tiny", "frame": 7, "mode": "drift"}


def test_frame_jpg_is_the_current_frame(preview):
    with get(preview, "/frame.jpg") as r:
        image = Image.open(io.BytesIO(r.read()))
    assert image.format == "JPEG" and image.size == (40, 24)


def test_mjpeg_stream_delivers_successive_frames(preview):
    with get(preview, "/stream.mjpg") as r:
        assert r.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        values = []
        for _ in range(3):
            assert r.readline().strip() == f"--{BOUNDARY}".encode()
            headers = {}
            while (line := r.readline().strip()):
                key, value = line.decode().split(": ", 1)
                headers[key] = value
            assert headers["Content-Type"] == "image/jpeg"
            jpeg = r.read(int(headers["Content-Length"]))
            r.readline()
            values.append(int(np.asarray(Image.open(io.BytesIO(jpeg))).mean().round()))
    assert len(set(values)) == 3, f"each part is a newer frame: {values}"


def test_page_shows_stream_and_status(preview):
    with get(preview, "/") as r:
        page = r.read().decode()
    assert 'src="/stream.mjpg"' in page and 'fetch("/status"' in page


def test_unknown_path_is_404(preview):
    with pytest.raises(urllib.error.HTTPError) as err:
        get(preview, "/nope")
    assert err.value.code == 404


def test_nothing_is_copied_or_encoded_while_nobody_watches():
    encoder = PreviewEncoder()
    encoder.write(np.zeros((8, 8, 3), np.uint8))
    assert encoder._pixels is None and encoder.jpeg_seq == 0


def test_a_new_viewer_never_gets_a_stale_frame():
    import itertools

    ticks = itertools.count()
    encoder = PreviewEncoder(max_fps=1000, clock=lambda: float(next(ticks)))  # every write a second later
    encoder.start()
    try:
        results = []
        viewer = threading.Thread(target=lambda: results.append(encoder.next_jpeg(0, timeout=10)))
        viewer.start()
        while not encoder._watchers:  # the viewer is waiting: frames are copied from now on
            threading.Event().wait(0.001)
        encoder.write(np.full((8, 8, 3), 10, np.uint8))
        viewer.join()
        # Nobody watches now; frame 200 is written, then a new viewer arrives and must get a newer frame.
        encoder.write(np.full((8, 8, 3), 200, np.uint8))
        viewer = threading.Thread(target=lambda: results.append(encoder.next_jpeg(results[0][1], timeout=10)))
        viewer.start()
        while not encoder._watchers:
            threading.Event().wait(0.001)
        encoder.write(np.full((8, 8, 3), 90, np.uint8))
        viewer.join()
        values = [int(np.asarray(Image.open(io.BytesIO(jpeg))).mean().round()) for jpeg, _ in results]
        assert values == [10, 90]
    finally:
        encoder.stop()


def test_viewers_that_go_away_mid_answer_leave_no_traceback(preview, capfd, caplog):
    import socket
    import struct

    for path in ("/stream.mjpg", "/frame.jpg", "/status", "/"):
        for _ in range(10):
            sock = socket.create_connection(preview.address, timeout=10)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            sock.recv(16)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not close
            sock.close()
    with get(preview, "/status") as r:  # still serving
        assert r.status == 200
    assert "Traceback" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.exc_info]


def test_a_frame_the_encoder_cannot_take_is_skipped_and_the_preview_lives_on():
    import itertools

    ticks = itertools.count()
    encoder = PreviewEncoder(max_fps=1000, clock=lambda: float(next(ticks)))
    encoder.start()
    try:
        got = []
        watcher = threading.Thread(target=lambda: got.append(encoder.next_jpeg(0, timeout=10)))
        watcher.start()
        while encoder._watchers == 0:  # the watcher is waiting: frames are taken from here on
            threading.Event().wait(0.001)
        encoder.write(np.zeros((8, 8, 2), np.uint8))  # two channels: no picture format has them
        while encoder.errors == 0:
            threading.Event().wait(0.001)
        encoder.write(np.full((8, 8, 1), 200, np.uint8))  # grey: shown
        watcher.join()
        assert got[0] is not None and Image.open(io.BytesIO(got[0][0])).size == (8, 8)
        assert encoder._thread.is_alive()
    finally:
        encoder.stop()


def test_a_new_stream_viewer_never_gets_a_frame_encoded_before_it_came():
    """Issue 9, bug 1: the stream started from sequence 0, so the last JPEG made for anyone went out first."""
    encoder = PreviewEncoder(max_fps=1000)
    server = PreviewServer(encoder, lambda: {}, port=0)
    server.start()
    value = [10]
    stop = threading.Event()

    def feed():
        while not stop.wait(0.002):
            encoder.write(np.full((8, 8, 3), value[0], np.uint8))

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        with get(server, "/frame.jpg") as r:  # an old JPEG, made for someone else
            assert np.asarray(Image.open(io.BytesIO(r.read()))).mean() == pytest.approx(10, abs=3)
        value[0] = 200  # the picture changes (a seed change with morph time 0)
        with get(server, "/stream.mjpg") as r:
            while not (line := r.readline()).startswith(b"Content-Length:"):
                pass
            r.readline()  # the blank line before the part's body
            first = Image.open(io.BytesIO(r.read(int(line.split(b":")[1]))))
    finally:
        stop.set()
        feeder.join()
        server.stop()
    assert np.asarray(first).mean() > 150, "the stream began with the frame from before"


def test_frames_are_copied_at_most_max_fps_times_a_second_while_watched():
    """Issue 9, bug 9: the preview copied every frame while it encodes at most 30 a second."""
    now = [0.0]
    encoder = PreviewEncoder(max_fps=30, clock=lambda: now[0])
    encoder._watchers = 1  # as while a viewer waits in next_jpeg
    pixels = np.zeros((8, 8, 3), np.uint8)
    for _ in range(100):  # 100 frames within one frame period of the preview
        encoder.write(pixels)
        now[0] += 0.0003
    assert encoder.copies == 1
    now[0] += 1 / 30
    encoder.write(pixels)
    assert encoder.copies == 2
