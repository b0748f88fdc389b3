"""Speaker timelines: error regions worked out by hand, and a real PNG on disk."""

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from diarize.cli import main
from diarize.errors import ConfigError, RTTMError
from diarize.plot import error_regions, plot_source, plot_timeline
from diarize.rttm import parse_rttm
from diarize.scoring import optimal_mapping
from tests.conftest import conversation

pytest.importorskip("matplotlib")


def rttm(uri, *turns):
    return "".join(
        f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in turns
    )


def one(text):
    (diarization,) = parse_rttm(text).values()
    return diarization


def _close(regions, expected):
    assert len(regions) == len(expected)
    for (s, e), (s2, e2) in zip(regions, expected, strict=True):
        assert s == pytest.approx(s2, abs=0.011) and e == pytest.approx(e2, abs=0.011)


def test_error_regions_by_hand():
    # Reference A 0-10, B 10-20, C 14-16 (overlaps B). Hypothesis x 0-12, y 12-20, z 21-22.
    # Mapping x->A, y->B (C and z stay unmatched).
    # 10-12: B talks, x (= A) is output: confusion. 14-16: B and C talk, y alone is output:
    # C missed. 21-22: nobody talks, z is output: false alarm.
    ref = one(rttm("f", (0, 10, "A"), (10, 20, "B"), (14, 16, "C")))
    hyp = one(rttm("f", (0, 12, "x"), (12, 20, "y"), (21, 22, "z")))
    mapping = optimal_mapping(ref, hyp)
    assert mapping == {"x": "A", "y": "B"}
    errors = error_regions(ref, hyp, mapping)
    _close(errors.confusion, [(10, 12)])
    _close(errors.missed, [(14, 16)])
    _close(errors.false_alarm, [(21, 22)])


def test_plot_writes_a_readable_png(tmp_path):
    ref = one(rttm("meeting", (0, 10, "MÉO069"), (10, 20, "FEE005"), (14, 16, "MEE006")))
    hyp = one(rttm("meeting", (0, 12, "SPEAKER_00"), (12, 20, "SPEAKER_01")))
    out = plot_timeline(hyp, tmp_path / "t.png", ref)
    from matplotlib.image import imread

    image = imread(out)
    height, width = image.shape[:2]
    assert width > 1000 and height > 200 and image.shape[2] in (3, 4)
    # Not blank: the bars put plenty of non-white pixels on the canvas.
    assert (image[..., :3] < 0.9).any(axis=2).mean() > 0.05
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_plot_without_reference_and_without_speech(tmp_path):
    out = plot_timeline(one(rttm("f", (0, 3, "S"))), tmp_path / "a.png")
    assert out.stat().st_size > 1000
    from diarize.types import Diarization

    out = plot_timeline(Diarization(uri="silence", duration=5.0), tmp_path / "b.png")
    assert out.stat().st_size > 1000


def test_plot_source_picks_the_file_id(tmp_path):
    both = tmp_path / "both.rttm"
    both.write_text(rttm("a", (0, 2, "S")) + rttm("b", (0, 3, "T")))
    with pytest.raises(RTTMError, match="--uri"):
        plot_source(both, tmp_path / "x.png")
    with pytest.raises(RTTMError, match="no file id 'c'"):
        plot_source(both, tmp_path / "x.png", uri="c")
    assert plot_source(both, tmp_path / "x.png", uri="b").is_file()


def test_empty_rttm_and_unknown_image_format_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.rttm"
    empty.write_text("")
    with pytest.raises(RTTMError, match="holds no speaker turns"):
        plot_source(empty, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="cannot draw a .txt file"):
        plot_timeline(one(rttm("f", (0, 3, "S"))), tmp_path / "a.txt")
    assert not list(tmp_path.glob("*a*.txt"))


def test_reference_with_another_file_id_is_used_with_a_warning(tmp_path, caplog):
    hyp, ref = tmp_path / "hyp.rttm", tmp_path / "ref.rttm"
    hyp.write_text(rttm("a", (0, 2, "S")))
    ref.write_text(rttm("other", (0, 2, "R")))
    assert plot_source(hyp, tmp_path / "x.png", reference=ref).is_file()
    assert "scored against other" in caplog.text


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[plot\]"'):
        plot_timeline(one(rttm("f", (0, 3, "S"))), tmp_path / "a.png")


def test_cli_plot_diarizes_audio_first(tmp_path):
    import soundfile as sf

    from tests.conftest import SR, TINY_ONNX

    model = TINY_ONNX
    waveform, turns = conversation()
    sf.write(tmp_path / "talk.wav", waveform, SR)
    (tmp_path / "ref.rttm").write_text(rttm("talk", *turns))
    out = tmp_path / "talk.png"
    args = ["plot", tmp_path / "talk.wav", "--ref", tmp_path / "ref.rttm", "-o", out]
    args += ["--model", model, "-n", 2, "-q"]
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    from matplotlib.image import imread

    assert np.asarray(imread(out)).shape[1] > 1000
