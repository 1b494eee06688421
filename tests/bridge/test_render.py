"""`latentvj render`: clips that loop without a seam, in every format, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentvj.bridge.cli import main
from latentvj.bridge.render import RenderConfig, RenderError, render


def _frames(folder) -> np.ndarray:
    paths = sorted(folder.glob("frame_*.png"))
    return np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in paths])


def _steps(frames: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean absolute change between consecutive frames, and across the wrap (last -> first)."""
    inner = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return inner, float(np.abs(frames[0] - frames[-1]).mean())


@pytest.mark.parametrize("walk", ["loop", "noise", "keyframes"])
def test_looping_walks_wrap_around_like_any_other_frame_step(tmp_path, tiny_gan_path, walk):
    result = render(RenderConfig(out=tmp_path / "f/", model=tiny_gan_path, seconds=1.0, fps=24, walk=walk,
                                 seed=3))
    frames = _frames(tmp_path / "f")
    assert result.seamless and len(frames) == result.frames == 24
    inner, wrap = _steps(frames)
    assert inner.max() > 0  # it moves
    assert wrap <= 2.0 * inner.max() + 1.0  # the seam is an ordinary step, not a jump


def test_drift_is_rendered_but_not_called_a_loop(tmp_path, tiny_gan_path):
    result = render(RenderConfig(out=tmp_path / "f/", model=tiny_gan_path, seconds=2.0, fps=12, walk="drift",
                                 speed=3.0))
    assert not result.seamless and len(_frames(tmp_path / "f")) == 24


def test_frame_n_equals_frame_0_so_the_clip_stops_one_frame_before_it(tmp_path, tiny_gan_path):
    """Two loops of the same period: the second loop repeats the first frame for frame."""
    one = render(RenderConfig(out=tmp_path / "one/", model=tiny_gan_path, seconds=1.0, fps=12, seed=5))
    render(RenderConfig(out=tmp_path / "two/", model=tiny_gan_path, seconds=2.0, fps=12, loops=2, seed=5))
    a, b = _frames(tmp_path / "one"), _frames(tmp_path / "two")
    assert one.frames == 12 and len(b) == 24
    assert np.abs(b[:12] - a).max() <= 1 and np.abs(b[12:] - a).max() <= 1
    assert np.abs(a[1:] - a[0]).mean(axis=(1, 2, 3)).min() > 0  # ... and no frame of a repeats frame 0


@pytest.mark.integration
def test_mp4_holds_the_rendered_frames(tmp_path, tiny_gan_path):
    import imageio_ffmpeg

    render(RenderConfig(out=tmp_path / "f/", model=tiny_gan_path, seconds=1.0, fps=12, size=(64, 48)))
    result = render(RenderConfig(out=tmp_path / "loop.mp4", model=tiny_gan_path, seconds=1.0, fps=12,
                                 size=(64, 48)))
    reader = imageio_ffmpeg.read_frames(str(result.out))
    meta = next(reader)
    decoded = np.stack([np.frombuffer(f, np.uint8).reshape(48, 64, 3) for f in reader]).astype(np.float32)
    assert meta["size"] == (64, 48) and meta["fps"] == 12
    assert len(decoded) == 12
    assert np.abs(decoded - _frames(tmp_path / "f")).mean() < 6  # H.264 at crf 16: close to the source


@pytest.mark.integration
def test_gif_loops_forever_at_the_clip_rate(tmp_path, tiny_gan_path):
    result = render(RenderConfig(out=tmp_path / "loop.gif", model=tiny_gan_path, seconds=1.0, fps=10))
    with Image.open(result.out) as gif:
        assert gif.n_frames == 10 and gif.size == (32, 32)
        assert gif.info["loop"] == 0 and gif.info["duration"] == 100


@pytest.mark.integration
def test_hap_mov_pads_to_whole_blocks(tmp_path, tiny_gan_path):
    import imageio_ffmpeg

    result = render(RenderConfig(out=tmp_path / "loop.mov", model=tiny_gan_path, seconds=1.0, fps=12,
                                 size=(30, 30)))
    reader = imageio_ffmpeg.read_frames(str(result.out))
    meta = next(reader)
    assert meta["codec"].startswith("hap") and meta["size"] == (32, 32)
    assert sum(1 for _ in reader) == 12


def test_nothing_is_overwritten_unless_asked(tmp_path, tiny_gan_path):
    out = tmp_path / "loop.gif"
    out.write_bytes(b"my clip")
    with pytest.raises(RenderError, match="already exists; pass --overwrite"):
        render(RenderConfig(out=out, model=tiny_gan_path, seconds=1.0, fps=4))
    assert out.read_bytes() == b"my clip"
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "frame_00000.png").write_bytes(b"x")
    with pytest.raises(RenderError, match="1 frame_\\*.png files; pass --overwrite"):
        render(RenderConfig(out=tmp_path / "f", model=tiny_gan_path, seconds=1.0, fps=4))
    render(RenderConfig(out=tmp_path / "f", model=tiny_gan_path, seconds=1.0, fps=4, overwrite=True))
    assert len(_frames(tmp_path / "f")) == 4


def test_a_failed_encode_leaves_no_half_written_file(tmp_path, tiny_gan_path, monkeypatch):
    from latentvj.bridge.outputs import video

    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'encoder exploded' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: str(broken))
    with pytest.raises(RenderError, match="encoder exploded"):
        render(RenderConfig(out=tmp_path / "loop.mp4", model=tiny_gan_path, seconds=1.0, fps=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ffmpeg"]


@pytest.mark.parametrize("options, message", [
    (["--out", "x.avi"], "cannot write '.avi' files"),
    (["--out", "x.gif", "--walk", "spin"], "--walk 'spin': choose one of"),
    (["--out", "x.gif", "--seconds", "0"], "--seconds must be a positive number"),
    (["--out", "x.gif", "--fps", "1000"], "--fps must be between 1 and 240"),
    (["--out", "x.gif", "--seconds", "0.2", "--loops", "1"], "walk period of 0.2 s"),
    (["--out", "x.gif", "--model", "no-such-model"], "no-such-model"),
    (["--out", "no/such/folder/x.gif"], "does not exist"),
])
def test_cli_refuses_bad_options_with_one_line(tmp_path, monkeypatch, capsys, options, message):
    monkeypatch.chdir(tmp_path)
    assert main(["render", *options]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()


def test_cli_renders_and_says_what_it_wrote(tmp_path, tiny_gan_path, capsys):
    out = tmp_path / "clip.gif"
    assert main(["render", "--model", tiny_gan_path, "--out", str(out), "--seconds", "1", "--fps", "6"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}: 6 frames, 32x32, 6 fps" in captured.out and "a seamless loop" in captured.out
    assert "frame 6/6" in captured.err


def test_a_clip_in_bars_lasts_exactly_those_bars_and_loops(tmp_path, tiny_gan_path):
    """8 bars at 124 BPM are 15.4839 s: 465 frames at 30 fps would be 15.5 s (123.87 BPM when a player
    pitches it), so the clip's rate is the fraction at which 465 frames last exactly 8 bars."""
    import imageio_ffmpeg
    from fractions import Fraction

    config = RenderConfig(out=tmp_path / "bars.mp4", model=tiny_gan_path, fps=30, bpm=124, bars=8, size=(32, 32))
    assert config.frames == 465 and config.clip_fps == Fraction(961, 32)
    assert config.frames / config.clip_fps == Fraction(32 * 60, 124)  # exactly 32 beats at 124 BPM
    result = render(config)
    reader = imageio_ffmpeg.read_frames(str(result.out))
    meta = next(reader)
    assert sum(1 for _ in reader) == 465
    # What a player reads (ffmpeg prints two decimals): 30.03 fps and 15.48 s, not 30 fps and 15.50 s
    assert meta["fps"] == pytest.approx(30.03125, abs=0.006)
    assert meta["duration"] == pytest.approx(32 * 60 / 124, abs=0.006)
    with pytest.raises(RenderError, match="go together"):
        RenderConfig(out=tmp_path / "x.mp4", model=tiny_gan_path, bpm=124)


def test_cli_renders_bars(tmp_path, tiny_gan_path, capsys):
    out = tmp_path / "f/"
    assert main(["render", "--model", tiny_gan_path, "--out", str(out), "--bpm", "120", "--bars", "1",
                 "--fps", "6"]) == 0
    said = capsys.readouterr().out
    assert "12 frames" in said and "= 1 bars at 120 BPM" in said and "a seamless loop" in said


KICKS = (0.5, 1.5, 2.5, 3.5)  # seconds: a kick drum once a second (60 BPM)


def _song(path, seconds=4.0, rate=22050):
    """A mono 16-bit WAV: quiet noise, and a 55 Hz kick (a decaying sine, 150 ms) at each of KICKS."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    signal = 0.002 * np.random.default_rng(0).standard_normal(len(t))
    for kick in KICKS:
        after = t - kick
        signal += np.where((after >= 0) & (after < 0.15), 0.8 * np.sin(2 * np.pi * 55 * after) * np.exp(-after / 0.05), 0)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(rate)
        wav.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_an_audio_reactive_clip_moves_on_the_songs_kicks_and_carries_its_sound(tmp_path, tiny_gan_path):
    """--audio with bass-pulse on a still walk (hold): every move of the image is the music's. The frames
    change on each kick and stay still between them; the MP4 lasts the song and holds its sound, in time."""
    import subprocess

    import imageio_ffmpeg

    song = _song(tmp_path / "song.wav")
    folder = render(RenderConfig(out=tmp_path / "frames/", model=tiny_gan_path, walk="hold", fps=30,
                                 audio=song)).out
    assert render(RenderConfig(out=tmp_path / "clip.mp4", model=tiny_gan_path, walk="hold", fps=30,
                               audio=song, routes="bass-pulse")).frames == 120
    steps, _ = _steps(_frames(folder))  # steps[i]: the change from frame i to frame i + 1
    said = " ".join(f"{i}:{v:.2f}" for i, v in enumerate(steps))
    for kick in KICKS[1:]:  # (before the first, the features' running range is still learning the noise)
        heard = int(kick * 30) + 1  # the first frame whose audio holds the kick's first block
        during = steps[heard - 1:heard + 5].max()
        before = steps[heard - 9:heard - 2].max()  # the tail of the last kick has faded by then
        assert during > 10 * max(before, 1e-3), (kick, during, before, said)
        assert steps[heard - 1] == during, f"the image jumps on the frame that hears the kick: {said}"

    # The MP4's sound: decoded back by ffmpeg, its kicks where the song has them (to a few ms).
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "clip.mp4"),
                              "-f", "s16le", "-ac", "1", "-ar", "22050", "-"], capture_output=True, check=True).stdout
    sound = np.frombuffer(decoded, "<i2").astype(np.float32) / 32768
    assert len(sound) / 22050 == pytest.approx(4.0, abs=0.05)
    loud = np.flatnonzero(np.abs(sound) > 0.2) / 22050
    starts = [float(loud[np.searchsorted(loud, kick - 0.05)]) for kick in KICKS]
    assert starts == pytest.approx(KICKS, abs=0.01)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "clip.mp4"))
    assert next(reader)["duration"] == pytest.approx(4.0, abs=0.05) and sum(1 for _ in reader) == 120


def test_audio_options_are_refused_clearly(tmp_path, tiny_gan_path):
    song = _song(tmp_path / "song.wav", seconds=1.0)
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really")
    for options, said in (({"audio": tmp_path / "missing.wav"}, "not a WAV"),
                          ({"audio": tmp_path / "noise.wav"}, "not a WAV"),
                          ({"audio": song, "bars": 2, "bpm": 120}, "lasts the song"),
                          ({"audio": song, "seconds": 3.0, "seconds_given": True}, "lasts 1.00 s"),
                          ({"audio": song, "routes": "no-such-set"}, "neither a shipped set"),
                          ({"routes": "bass-pulse"}, "give the sound with --audio"),
                          ({"audio": song, "out": tmp_path / "x.gif", "routes": "nothing"}, "neither")):
        with pytest.raises(RenderError, match=said):
            RenderConfig(**{"out": tmp_path / "x.mp4", "model": tiny_gan_path, **options})
    config = RenderConfig(out=tmp_path / "short.mp4", model=tiny_gan_path, audio=song, seconds=0.5,
                          seconds_given=True, fps=10)
    assert config.frames == 5, "--seconds shortens the song's clip"
    lfo = RenderConfig(out=tmp_path / "lfo.mp4", model=tiny_gan_path, routes="bar-sweep", bpm=90, seconds=1.0)
    assert lfo.frames == 30 and lfo.clip_fps == 30, "--bpm alone: the beat LFOs' tempo, not the clip's length"


def test_cli_renders_a_song_and_says_what_became_of_its_sound(tmp_path, tiny_gan_path, capsys):
    song = _song(tmp_path / "song.wav", seconds=1.0)
    assert main(["render", "--model", tiny_gan_path, "--out", str(tmp_path / "s.gif"), "--audio", str(song),
                 "--fps", "6"]) == 0
    said = capsys.readouterr().out
    assert "6 frames" in said and "3 modulation route(s)" in said and "a GIF holds no sound" in said
