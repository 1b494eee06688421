"""`latentvj bench` runs end to end on a tiny model and prints the ratios it promises."""

from __future__ import annotations

import io

import pytest

from latentvj.bridge.bench import run_bench


@pytest.mark.integration
def test_bench_measures_forward_engine_and_network_outputs(tiny_gan_path):
    out = io.StringIO()
    [result] = run_bench(tiny_gan_path, device="cpu", frames=60, rounds=1, outputs=True, live=True, out=out)
    text = out.getvalue()
    assert "ratio" in text and "outputs ratio" in text and "live ratio" in text
    assert result.forward_ms > 0 and result.engine_ms > 0 and result.outputs_ms > 0 and result.live_ms > 0
    assert result.outputs.startswith("jitter") and result.outputs_sent >= 1  # it really streamed
    # the live rounds really encoded previews for a client and handled a controller's messages
    assert result.live_jpegs >= 1 and result.live_received > 0
    row = next(line for line in text.splitlines() if line.split() and line.split()[0] == "32")
    assert float(row.split()[5]) == pytest.approx(result.ratio, abs=1e-3)
    # the tiny GAN's FLOP, counted by hand: each transposed conv is in-pixels x 16 taps x in x out channels
    widths = [(4, 32), (8, 16), (16, 8)]  # (side, channels) of its feature maps: ngf 4 at 32 px
    macs = 16 * 16 * widths[0][1]  # z (16) to 4x4
    macs += sum(s * s * 16 * c_in * c_out for (s, c_in), (_, c_out) in zip(widths, widths[1:]))
    macs += 16 * 16 * 16 * widths[-1][1] * 3  # 16x16 to the 32x32 image
    assert result.gflop == pytest.approx(2 * macs / 1e9, rel=1e-6)
    assert "matrix-multiply peak" in text and "of peak" in text


@pytest.mark.integration
def test_bench_batch_times_passes_of_several_frames_and_the_engine_drawing_them_ahead(tiny_gan_path, monkeypatch):
    from latentvj.bridge import engine as engine_module
    from latentvj.bridge.bench import per_frame

    passes = []
    submit = engine_module.Renderer.submit

    def counted(self, layers, **kwargs):
        passes.append(len(layers[0][1]) if layers[0][1].ndim == 2 else 1)
        return submit(self, layers, **kwargs)
    monkeypatch.setattr(engine_module.Renderer, "submit", counted)
    out = io.StringIO()
    [result] = run_bench(tiny_gan_path, device="cpu", frames=24, rounds=1, batch=3, out=out)
    assert result.batch == 3 and result.forward_ms > 0 and result.engine_ms > 0
    assert "batches of 3" in out.getvalue()
    assert passes.count(3) >= 24 // 3 - 1, "the engine drew its frames three at a time"
    # a batch comes out as one wait and its frames at once: per frame, over each batch
    assert per_frame([0.0, 0.030, 0.031, 0.032, 0.062, 0.063, 0.064], 3) == pytest.approx([0.032 / 3, 0.032 / 3])
    assert per_frame([0.0, 0.01, 0.03], 1) == pytest.approx([0.01, 0.02])


@pytest.mark.integration
@pytest.mark.slow
def test_bench_fuzz_drives_a_real_server_and_reports_what_it_did(tiny_gan_path):
    from latentvj.bridge.fuzz import run_fuzz

    out = io.StringIO()
    report = run_fuzz(3000, model=tiny_gan_path, rate=3000, out=out)
    assert report.sent == 3000 and report.received > 0
    assert report.tracebacks == 0, out.getvalue()
    assert report.echo_ok and report.stopped_cleanly and report.frames_during > 0, out.getvalue()
    assert 0 < report.rss_before_kb and report.log_bytes < 100_000
    text = out.getvalue()
    for row in ("escaped exceptions", "log written during the fuzz", "resident memory", "/lvj/status right after"):
        assert row in text


def test_the_fuzz_never_points_the_server_at_another_host():
    from latentvj.bridge.fuzz import Fuzzer
    from latentvj.plugin import oscwire

    for data in Fuzzer(1).pool(5000):
        try:
            messages = oscwire.decode(data)
        except oscwire.OscDecodeError:
            continue
        assert not any("subscribe" in m.address for m in messages)


@pytest.mark.integration
def test_bench_audio_latency_measures_clicks_through_jack_to_frames(tiny_gan_path, tmp_path):
    """`latentvj bench --audio-latency`: its own JACK server, a click player, a serving server; every click is
    heard and shown, and the figures are written (their values are the bench's to report, not a test's)."""
    import importlib.util
    import json
    import shutil
    import subprocess
    import sys

    if shutil.which("jackd") is None or importlib.util.find_spec("sounddevice") is None:
        pytest.skip("needs jackd (Debian jackd2) and the audio extra: pip install 'latentvj[audio]'")
    out = tmp_path / "latency.json"
    run = subprocess.run([sys.executable, "-m", "latentvj.bridge.cli", "bench", "--audio-latency", "5", "--model",
                          tiny_gan_path, "--json", str(out)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert figures["clicks"] >= 6 and figures["shown"] >= figures["clicks"] - 1, figures
    assert figures["heard_onsets"] >= figures["clicks"] - 1, figures  # (one may fall in a JACK xrun)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"], figures
    assert "click to frame through JACK" in run.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_bench_paced_runs_a_real_server_quiet_and_beside_a_busy_core(tiny_gan_path):
    from latentvj.bridge.bench import paced

    out = io.StringIO()
    results = paced(0.5, model=tiny_gan_path, fps=30.0, max_latency_ms=100, out=out)
    assert [r.label for r in results] == ["quiet, --threads auto", "quiet, --max-latency-ms 100",
                                          "one core busy, --threads auto", "one core busy, --max-latency-ms 100",
                                          "OSC flood 20,000 msg/s, --threads auto", results[5].label]
    assert "spinning threads" in results[5].label
    assert all(r.frames > 3 and r.fps > 0 and r.worst_gap_ms > 0 and r.cpu_percent is not None for r in results), \
        out.getvalue()
    assert results[4].cpu_percent > 0, "the server's CPU time is read (a tiny model may take under a clock tick)"
    assert results[0].threads >= 1 and "interval sd ms" in out.getvalue()
    assert results[4].osc_per_s > 1000 > results[0].osc_per_s, "the flood reaches the server, and only there"
    assert results[0].lookahead == 0 and results[1].lookahead == 3, "serve's lookahead: the frames due in 100 ms"


@pytest.mark.integration
def test_the_baseline_loop_runs_as_a_user_would_have_written_it(tiny_gan_path):
    from latentvj.bridge.bench import baseline_ms

    assert baseline_ms(tiny_gan_path, 5) > 0
    from latentvj.bridge.bench import baseline_at
    from latentvj.models.checkpoint import load_model

    model = load_model(tiny_gan_path)
    assert baseline_at(model, tiny_gan_path, 2 * model.resolution, 5) > 0, "the same loop at another size"


@pytest.mark.integration
def test_bench_latency_times_osc_changes_to_the_frames_that_show_them(tiny_gan_path):
    from latentvj.bridge.bench import control_latency

    out = io.StringIO()
    figures = control_latency(1.0, model=tiny_gan_path, fps=30.0, out=out)
    assert figures["changes"] >= 3 and 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["p50_frames"] == pytest.approx(figures["p50_ms"] / (1000 / 30))
    assert "first frame showing it" in out.getvalue()


@pytest.mark.integration
def test_bench_soak_samples_a_real_servers_memory(tiny_gan_path):
    from latentvj.bridge.bench import soak

    out = io.StringIO()
    figures = soak(2.0, model=tiny_gan_path, out=out)
    assert figures["frames"] > 10 and figures["rss_end_kb"] > 0 and "growth" in out.getvalue()


@pytest.mark.integration
def test_bench_loads_a_model_anew_on_a_real_server_and_says_what_each_load_keeps(tiny_gan_path):
    from latentvj.bridge.bench import MODEL_COPIES, model_loads

    out = io.StringIO()
    figures = model_loads(MODEL_COPIES + 2, model=tiny_gan_path, out=out)
    lines = out.getvalue().splitlines()
    # each load waited for until the server plays it, going round the copies
    assert [line.split()[2] for line in lines[:-1]] == [f"load{i % MODEL_COPIES}" for i in range(MODEL_COPIES + 2)]
    assert len(figures["rss_kb"]) == MODEL_COPIES + 2 and min(figures["rss_kb"]) > 0
    # and how the output held meanwhile, from its frames in shared memory
    assert len(figures["worst_gap_ms"]) == len(figures["frames_over_50ms"]) == MODEL_COPIES + 2
    assert all(int(line.split(",")[1].split()[0]) > 0 for line in lines[:-1]), "frames were read during each load"
    assert "MB a load" in lines[-1]
    with pytest.raises(RuntimeError, match="must be more than"):
        model_loads(MODEL_COPIES, model=tiny_gan_path, out=out)
