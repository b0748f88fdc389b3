import numpy as np
import pytest

from diarize.config import update_config
from diarize.pipeline import Pipeline
from diarize.progress import StageBars, report, reporting
from tests.conftest import SR, SYNTH_CONFIG, conversation


def test_report_without_a_listener_does_nothing():
    report("embedding", 1.0, 2.0)  # no callback installed: silently ignored


def test_reporting_is_scoped_to_the_with_block():
    seen = []
    with reporting(lambda *args: seen.append(args)):
        report("stage", 1.0, 4.0)
    report("stage", 2.0, 4.0)
    assert seen == [("stage", 1.0, 4.0)]


def test_speech_detection_reports_each_piece(monkeypatch):
    import diarize.embed as embed_module
    from diarize.config import VADConfig
    from diarize.embed import speech_regions

    monkeypatch.setattr(
        embed_module, "detect_speech", lambda w, c, sr: np.zeros((0, 2), dtype=np.int64)
    )
    seen = []
    with reporting(lambda *args: seen.append(args)):
        speech_regions(np.zeros(40 * SR, dtype=np.int16), VADConfig(chunk=10.0), SR)
    assert seen == [("speech detection", t, 40.0) for t in (10.0, 20.0, 30.0, 40.0)]


def test_pipeline_reports_its_long_stages_in_order_up_to_the_whole_recording(tiny_encoder):
    # Chunks of 4 s for detection and embedding, so each stage reports several times.
    config = update_config(SYNTH_CONFIG, {"vad": {"chunk": 4.0}, "embed": {"chunk": 4.0}})
    x, _ = conversation(("A", "B", "A", "B", "A", "B"))
    total = len(x) / SR
    seen = []
    with reporting(lambda *args: seen.append(args)):
        Pipeline(config, encoder=tiny_encoder)(x, num_speakers=2)
    stages = [s for i, (s, _, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != s]
    assert stages == ["speech detection", "embedding", "resegmentation"]
    for stage in stages:
        done = [d for s, d, t in seen if s == stage]
        assert all(t == pytest.approx(total) for s, _, t in seen if s == stage)
        assert len(done) >= 2
        assert done == sorted(done)  # never goes back
        assert done[-1] == pytest.approx(total)


def test_stage_bars_skip_short_recordings_and_switch_bars_between_stages():
    bars = StageBars("short.wav", min_seconds=600.0)
    bars("embedding", 10.0, 60.0)
    assert bars._bar is None  # a minute of audio: no bar
    bars = StageBars("long.wav", min_seconds=600.0)
    bars("speech detection", 300.0, 3600.0)
    first = bars._bar
    assert first is not None and first.n == 300
    bars("embedding", 120.0, 3600.0)
    assert bars._bar is not first and bars._bar.n == 120
    bars.close()
    assert bars._bar is None
