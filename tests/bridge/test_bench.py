"""`latentvj bench` runs end to end on a tiny model and prints the ratios it promises."""

from __future__ import annotations

import io

import pytest

from latentvj.bridge.bench import run_bench


@pytest.mark.integration
def test_bench_measures_forward_engine_and_network_outputs(tiny_gan_path):
    out = io.StringIO()
    [result] = run_bench(tiny_gan_path, device="cpu", frames=20, rounds=1, outputs=True, out=out)
    text = out.getvalue()
    assert "ratio" in text and "outputs ratio" in text
    assert result.forward_ms > 0 and result.engine_ms > 0 and result.outputs_ms > 0
    assert result.outputs.startswith("jitter") and result.outputs_sent >= 1  # it really streamed
    row = next(line for line in text.splitlines() if line.split() and line.split()[0] == "32")
    assert float(row.split()[5]) == pytest.approx(result.ratio, abs=1e-3)
