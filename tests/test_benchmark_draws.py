"""Averaging over draws of the cross-domain benchmark, on figures worked out by hand."""

import numpy as np
import pytest

from benchmarks import draws


def _cell(der, single=0, multi=8):
    return {"der": der, "single": single, "multi": multi}


def test_a_domain_is_the_mean_of_its_draws_and_ami_counts_once():
    cells = {
        ("ami", 0): _cell(0.40, 5, 11),
        ("so762", 0): _cell(0.30, 1),
        ("so762", 202): _cell(0.50, 0),
        ("so762-8k", 0): _cell(0.40, 1),
        ("so762-8k", 202): _cell(0.60, 2),
        ("testother", 0): _cell(0.20),
        ("testother", 202): _cell(0.30),
    }
    out = draws.summarise(cells)
    assert out["ami"] == {"der": 0.40, "single": 5, "multi": 11}
    assert out["so762"]["der"] == pytest.approx(0.40)
    assert out["so762-8k"] == {"der": pytest.approx(0.50), "single": 3, "multi": 16}
    assert out["testother"]["der"] == pytest.approx(0.25)
    assert draws.TUNING not in out
    cells[(draws.TUNING, 101)] = _cell(0.35, 0, 6)
    out = draws.summarise(cells)
    assert out[draws.TUNING] == {"der": 0.35, "single": 0, "multi": 6}
    assert out["so762"]["der"] == pytest.approx(0.40)  # the tuning set is no domain's draw


def test_settings_the_front_half_reads_are_analysed_again():
    assert draws.needs_analysis("vad", {"pad": 0.1})
    assert draws.needs_analysis("embed", {"step": 0.5})
    assert draws.needs_analysis("adapt", {"enabled": True})  # the embeddings change
    assert draws.needs_analysis("overlap", {"model": "other.onnx", "threshold": 0.5})
    assert not draws.needs_analysis("overlap", {"turn_window": 0.3})
    assert not draws.needs_analysis("cluster", {"vbx_fb": 3.0})
    assert not draws.needs_analysis("vad", {})  # the defaults' own row


def test_labels():
    assert draws.label({}) == "package defaults"
    assert draws.label({"vbx_fa": 0.3, "vbx_fb": 3.0}) == "vbx_fa 0.3, vbx_fb 3.0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0,0"], "distinct"),
        (["--seeds", "0,-5"], "0 or more"),
        (["--seeds", "0,x"], "integers"),
        (["--seeds", "0,101"], "tuning set"),
        (["--settings", '{"vbx_fb": 3}'], "JSON list"),
        (["--excerpt", "2"], "at least 5 seconds"),
    ],
)
def test_bad_arguments_are_refused(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        draws.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_the_default_settings_leave_one_or_two_parameters_at_a_time():
    assert all(1 <= len(s) <= 2 for s in draws.VBX_SETTINGS)
    assert draws.SEEDS[0] == 0 and 101 not in draws.SEEDS


def test_front_half_settings_get_an_analysis_of_their_own(monkeypatch, tmp_path):
    # A [vad] setting changes what the front half finds, so it is analysed again with its
    # own configuration; a [cluster] setting reuses the defaults' analysis.
    import benchmarks.vbx as vbx
    import diarize.pipeline as pipeline_module
    from diarize.config import PipelineConfig

    class FakePipeline:
        def __init__(self, config, encoder=None, model=None):
            self.config = config
            self.encoder = encoder if encoder is not None else ("loaded", model)

    analysed_with = []
    encoders = []

    def fake_analyse(pipeline, sets, log):
        analysed_with.append(pipeline.config)
        encoders.append(pipeline.encoder)
        return {key: {} for key in sets}

    def fake_score(pipeline, analyses, items, changes, section="cluster"):
        return {"der": 0.5, "single": 0, "multi": 1, "per_file": [(1.0, 2.0)]}

    monkeypatch.setattr(
        draws, "draw_sets", lambda seeds, log, tuning=False: {(d, 0): [] for d in draws.DOMAINS}
    )
    monkeypatch.setattr(vbx, "analyse_sets", fake_analyse)
    monkeypatch.setattr(vbx, "score", fake_score)
    monkeypatch.setattr(pipeline_module, "Pipeline", FakePipeline)
    monkeypatch.setattr("diarize.config.load_config", lambda path: PipelineConfig())
    out = tmp_path / "r.md"
    settings = '[{"floor_db": 2.0}, {"pad": 0.1}]'
    assert (
        draws.main(["--seeds", "0", "--section", "vad", "--settings", settings, "--out", str(out)])
        == 0
    )
    floor, pad = PipelineConfig().vad.floor_db, PipelineConfig().vad.pad
    assert floor != 2.0 and pad != 0.1
    assert [c.vad.floor_db for c in analysed_with] == [floor, 2.0, floor]
    assert [c.vad.pad for c in analysed_with] == [pad, pad, 0.1]
    analysed_with.clear()
    draws.main(["--seeds", "0", "--settings", '[{"vbx_fb": 3.0}]', "--out", str(out)])
    assert len(analysed_with) == 1
    assert "floor_db" not in out.read_text() and "vbx_fb 3.0" in out.read_text()
    # every file the same in both rows: no difference, and no interval around it
    zero = " | ".join(["+0.0 (+0.0, +0.0)"] * 5)
    assert f"| vbx_fb 3.0 | {zero} |" in out.read_text()
    # --model: every analysis, the front-half settings' own included, runs that checkpoint
    encoders.clear()
    args = ["--seeds", "0", "--section", "vad", "--settings", settings, "--out", str(out)]
    draws.main([*args, "--model", "other.onnx"])
    assert encoders == [("loaded", "other.onnx")] * 3
    encoders.clear()
    draws.main(args)
    assert encoders == [("loaded", None)] * 3
    # --encoder: one more row, the package defaults on that checkpoint, analysed on its own
    encoders.clear()
    analysed_with.clear()
    draws.main(["--seeds", "0", "--settings", "[]", "--encoder", "v9=v9.onnx", "--out", str(out)])
    assert encoders == [("loaded", None), ("loaded", "v9.onnx")]
    assert analysed_with == [PipelineConfig()] * 2
    assert "| encoder v9 | 50.0 (0/1) |" in out.read_text()
    with pytest.raises(SystemExit):
        draws.main(["--seeds", "0", "--encoder", "v9.onnx", "--out", str(out)])


def test_the_tuning_set_is_a_column_outside_the_mean(monkeypatch, tmp_path):
    import benchmarks.vbx as vbx
    import diarize.pipeline as pipeline_module
    from diarize.config import PipelineConfig

    ders = {"ami": 0.4, "so762": 0.3, "so762-8k": 0.5, "testother": 0.2}
    ders.update({draws.TUNING: 0.9, draws.TUNING_8K: 0.8})

    def fake_sets(seeds, log, tuning=False):
        keys = [(d, 0) for d in draws.DOMAINS] + [(t, 101) for t in draws.TUNINGS] * tuning
        return {key: [key[0]] for key in keys}

    def fake_score(pipeline, analyses, items, changes, section="cluster"):
        return {"der": ders[items[0]], "single": 0, "multi": 1}

    monkeypatch.setattr(draws, "draw_sets", fake_sets)
    monkeypatch.setattr(vbx, "analyse_sets", lambda pipeline, sets, log: dict.fromkeys(sets))
    monkeypatch.setattr(vbx, "score", fake_score)
    monkeypatch.setattr(pipeline_module, "Pipeline", lambda config, model=None: None)
    monkeypatch.setattr("diarize.config.load_config", lambda path: PipelineConfig())
    out = tmp_path / "r.md"
    assert draws.main(["--seeds", "0", "--tuning", "--out", str(out), "--settings", "[]"]) == 0
    row = next(line for line in out.read_text().splitlines() if "package defaults" in line)
    # mean of the four domains (0.35), the tuning set's 90 and its telephone copy's 80 beside it
    assert "**35.00**" in row and row.endswith(" 90.00 | 80.00 |")
    assert "tuning 101" not in out.read_text()  # not among the draws' columns
    draws.main(["--seeds", "0", "--out", str(out), "--settings", "[]"])
    assert "tuning set" not in out.read_text()


def _files(*pairs):
    return {"per_file": [list(p) for p in pairs]}


def test_paired_differences_hold_the_files_as_they_are_first_and_average_the_draws():
    base = {
        ("ami", 0): _files((1, 10), (3, 10)),
        ("so762", 0): _files((2, 10), (2, 10)),
        ("so762", 202): _files((5, 20)),
        ("so762-8k", 0): _files((4, 8)),
        ("testother", 0): _files((0, 5), (1, 5)),
    }
    cells = {
        ("ami", 0): _files((2, 10), (3, 10)),  # 5/20 against 4/20: +0.05
        ("so762", 0): _files((4, 10), (2, 10)),  # +0.1
        ("so762", 202): _files((5, 20)),  # 0; the domain: mean of +0.1 and 0
        ("so762-8k", 0): _files((4, 8)),
        ("testother", 0): _files((0, 5), (1, 5)),
        (draws.TUNING, 101): _files((9, 10)),  # not a domain: left out
    }
    out = draws.paired_differences(base, cells, resamples=50)
    assert set(out) == {*draws.DOMAINS, "mean"}
    assert out["ami"][0] == pytest.approx(0.05)
    assert out["so762"][0] == pytest.approx(0.05)
    assert out["so762-8k"][0] == 0 and out["testother"][0] == 0
    assert out["mean"][0] == pytest.approx((0.05 + 0.05) / 4)
    # the unchanged domains are 0 in every replicate, whichever files are drawn
    assert not out["so762-8k"].any() and not out["testother"].any()
    # ami: each replicate is (files drawn of the first) x 0.05: 0, 0.05 or 0.1
    assert set(np.round(out["ami"], 6)) <= {0.0, 0.05, 0.1}
    assert len(out["ami"]) == 50


def test_a_difference_the_same_in_every_file_has_an_interval_of_one_point():
    base = {(d, 0): _files((1, 10), (2, 20), (0, 5)) for d in draws.DOMAINS}
    cells = {(d, 0): _files((2, 10), (4, 20), (0.5, 5)) for d in draws.DOMAINS}  # +10 %
    out = draws.paired_differences(base, cells, resamples=200)
    assert np.allclose(out["mean"], 0.1)
    assert draws.difference_cell(out["ami"]) == "**+10.0 (+10.0, +10.0)**"
    same = draws.paired_differences(base, base, resamples=200)
    assert draws.difference_cell(same["ami"]) == "+0.0 (+0.0, +0.0)"


def test_excerpts_cut_the_audio_and_crop_the_reference(tmp_path):
    sf = pytest.importorskip("soundfile")
    from benchmarks.der import Item
    from diarize.rttm import read_rttm, read_uem
    from diarize.types import Diarization, Turn

    rate = 8000
    audio = (np.arange(int(10.5 * rate)) % 1000).astype(np.int16)  # 10.5 s: two 5-s pieces
    (tmp_path / "set" / "wav").mkdir(parents=True)
    wav = tmp_path / "set" / "wav" / "conv.wav"
    sf.write(str(wav), audio, rate, subtype="PCM_16")
    turns = (Turn(1.0, 4.0, "A"), Turn(3.5, 7.0, "B"), Turn(9.0, 10.5, "A"))
    item = Item("conv", wav, Diarization("conv", turns, 10.5), [(0.0, 10.5)], 10.5)

    cut = draws.excerpts([item], 5.0)

    assert [c.uri for c in cut] == ["conv-00", "conv-01"]  # the last half second dropped
    assert cut[0].reference.turns == (Turn(1.0, 4.0, "A"), Turn(3.5, 5.0, "B"))
    assert cut[1].reference.turns == (Turn(0.0, 2.0, "B"), Turn(4.0, 5.0, "A"))
    assert all(c.uem == [(0.0, 5.0)] and c.duration == 5.0 for c in cut)
    second, got_rate = sf.read(str(cut[1].wav), dtype="int16")
    assert got_rate == rate and np.array_equal(second, audio[5 * rate : 10 * rate])
    folder = tmp_path / "set-cut5"
    assert read_rttm(folder / "rttm" / "conv-01.rttm")["conv-01"].turns == cut[1].reference.turns
    assert read_uem(folder / "uem" / "conv-01.uem")["conv-01"] == [(0.0, 5.0)]
    # made once: a second call reads what is there
    stamp = cut[1].wav.stat().st_mtime_ns
    assert draws.excerpts([item], 5.0)[1].reference == cut[1].reference
    assert cut[1].wav.stat().st_mtime_ns == stamp
