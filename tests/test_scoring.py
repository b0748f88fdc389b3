"""Scoring on reference/hypothesis pairs whose errors are worked out by hand in the comments."""

import json
import logging

import pytest
from click.testing import CliRunner

pytest.importorskip("pyannote.metrics")  # scoring is the score extra

from diarize.cli import main  # noqa: E402
from diarize.errors import RTTMError  # noqa: E402
from diarize.rttm import parse_rttm  # noqa: E402
from diarize.scoring import (  # noqa: E402
    der_components,
    read_rttm_source,
    score_corpus,
    score_one,
)


def rttm(uri, *turns):
    return "".join(
        f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in turns
    )


def one(text):
    (diarization,) = parse_rttm(text).values()
    return diarization


# Reference: A speaks 0-10, B 10-20. Hypothesis: x 0-12, y 12-20.
# The optimal mapping is x->A, y->B; from 10 to 12 B talks but x (= A) is output.
REF_1 = rttm("f1", (0, 10, "A"), (10, 20, "B"))
HYP_1 = rttm("f1", (0, 12, "x"), (12, 20, "y"))


def test_der_collar_zero_by_hand():
    s = score_one(one(REF_1), one(HYP_1))
    # missed 0, false alarm 0, confusion 2 s (10-12) over 20 s of speech: DER 10 %.
    assert (s.total, s.missed, s.false_alarm, s.confusion) == pytest.approx((20, 0, 0, 2))
    assert s.der == pytest.approx(0.10)
    # JER per reference speaker: A vs x: 1 - |A & x| / |A | x| = 1 - 10/12 = 1/6;
    # B vs y: 1 - 8/10 = 0.2. JER is their mean: (1/6 + 0.2) / 2 = 0.18333.
    assert s.jer == pytest.approx((1 / 6 + 0.2) / 2)
    # Purity: x holds 10 s of A and 2 s of B (best 10), y 8 s of B: (10 + 8) / 20 = 0.9.
    # Coverage: A is best covered by x (10 of 10), B by y (8 of 10): 18 / 20 = 0.9.
    assert s.purity == pytest.approx(0.9) and s.coverage == pytest.approx(0.9)
    assert (s.ref_speakers, s.hyp_speakers) == (2, 2)


def test_der_with_collar_by_hand():
    # collar 1.0 (TOTAL width, pyannote) = 0.5 s each side of the reference boundaries at
    # 0, 10, 20: scored speech is A 0.5-9.5 and B 10.5-19.5 = 18 s; the confusion left is
    # 10.5-12 = 1.5 s. DER = 1.5 / 18 = 8.33 %.
    s = score_one(one(REF_1), one(HYP_1), collar=1.0)
    assert s.total == pytest.approx(18.0) and s.confusion == pytest.approx(1.5)
    assert s.der == pytest.approx(1.5 / 18)
    # der_components (what 'diarize run --ref' reports) agrees.
    assert der_components(one(REF_1), one(HYP_1), collar=1.0)["total"] == pytest.approx(18.0)


def test_purity_and_coverage_follow_the_scored_region():
    # With a UEM of 0-10 s only A (0-10) and x (0-10) are scored: purity and coverage are
    # both 10 / 10 = 1.0, where the whole files would give 0.9 (test above).
    s = score_one(one(REF_1), one(HYP_1), uem=[(0.0, 10.0)])
    assert s.total == pytest.approx(10) and s.der == pytest.approx(0.0)
    assert s.purity == pytest.approx(1.0) and s.coverage == pytest.approx(1.0)
    # collar 4 s (2 s each side of 0, 10, 20) leaves A 2-8 and B 12-18: x covers 2-8 and
    # y 12-18 exactly, so again 1.0 and 1.0 (and no confusion left: 10-12 is in the collar).
    s = score_one(one(REF_1), one(HYP_1), collar=4.0)
    assert s.total == pytest.approx(12) and s.confusion == pytest.approx(0)
    assert s.purity == pytest.approx(1.0) and s.coverage == pytest.approx(1.0)


def test_skip_overlap_by_hand():
    # A 0-10 and B 5-15 overlap from 5 to 10. The hypothesis has x 0-10 and y 10-15:
    # mapping x->A (10 s), y->B (5 s). With overlap scored, from 5 to 10 two speakers talk
    # and one is output: 5 s missed over 10 + 10 = 20 s of speech, DER 25 %.
    ref = one(rttm("f", (0, 10, "A"), (5, 15, "B")))
    hyp = one(rttm("f", (0, 10, "x"), (10, 15, "y")))
    s = score_one(ref, hyp)
    assert (s.total, s.missed, s.confusion) == pytest.approx((20, 5, 0))
    assert s.der == pytest.approx(0.25)
    # skip_overlap removes 5-10 from scoring: 5 + 5 = 10 s left, all correct.
    s = score_one(ref, hyp, skip_overlap=True)
    assert s.total == pytest.approx(10) and s.der == pytest.approx(0.0)


def test_missing_hypothesis_counts_as_missed_and_total_adds_components(caplog):
    refs = parse_rttm(REF_1 + rttm("f2", (0, 4, "A")))
    hyps = parse_rttm(HYP_1 + rttm("f3", (0, 5, "z")))
    caplog.set_level(logging.WARNING, logger="diarize")
    result = score_corpus(refs, hyps)
    # f2 has no hypothesis: its 4 s are missed. f3 has no reference: not scored.
    # Corpus DER = (2 s confusion + 4 s missed) / (20 + 4) s = 25 %,
    # not the mean of the per-file rates (10 % and 100 %: 55 %).
    assert result.reference_only == ("f2",) and result.hypothesis_only == ("f3",)
    assert [s.uri for s in result.files] == ["f1", "f2"]
    f2 = result.files[1]
    assert f2.status == "no hypothesis" and f2.missed == pytest.approx(4) and f2.der == 1.0
    total = result.total
    assert total.der == pytest.approx(6 / 24)
    for key in ("total", "missed", "false_alarm", "confusion", "jer_error", "jer_speakers"):
        assert getattr(total, key) == pytest.approx(sum(getattr(s, key) for s in result.files))
    # JER over all reference speakers: A, B of f1 (1/6, 0.2) and A of f2 (1.0).
    assert total.jer == pytest.approx((1 / 6 + 0.2 + 1.0) / 3)
    assert "no hypothesis" in caplog.text and "f2" in caplog.text and "f3" in caplog.text
    table = result.format_table()
    assert "f2 *" in table and "f3" in table and "TOTAL" in table and "25.0" in table


@pytest.mark.filterwarnings("ignore:'uem' was approximated")
def test_corpus_total_equals_pyannote_accumulation():
    from pyannote.metrics.diarization import DiarizationErrorRate

    refs = parse_rttm(REF_1 + rttm("f2", (0, 4, "A"), (3, 9, "B")))
    hyps = parse_rttm(HYP_1 + rttm("f2", (0, 6, "u"), (6, 8, "v")))
    result = score_corpus(refs, hyps, collar=0.5)
    metric = DiarizationErrorRate(collar=0.5)
    for uri in ("f1", "f2"):
        metric(refs[uri].to_annotation(), hyps[uri].to_annotation())
    assert result.total.der == pytest.approx(abs(metric))


def test_uem_lists_a_silent_recording_its_false_alarm_counts():
    # "quiet" has no reference turns but the UEM says it was annotated (0-10 s): the
    # hypothesis's 3 s there are false alarm. Corpus: (2 + 3) / 20 = 25 %.
    refs = parse_rttm(REF_1)
    hyps = parse_rttm(HYP_1 + rttm("quiet", (1, 4, "x")))
    result = score_corpus(refs, hyps, uem={"f1": [(0, 20)], "quiet": [(0, 10)]})
    assert result.hypothesis_only == ()
    assert result.total.false_alarm == pytest.approx(3) and result.total.der == pytest.approx(0.25)


def test_a_uem_that_misses_the_reference_speech_is_warned_about(caplog):
    refs, hyps = parse_rttm(REF_1), parse_rttm(HYP_1)
    with caplog.at_level(logging.WARNING):
        score_corpus(refs, hyps, uem={"f1": [(100, 200)]})
    assert "f1: its UEM regions hold none of its reference speech" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        score_corpus(refs, hyps, uem={"f1": [(5, 15)]})
    assert "UEM" not in caplog.text


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def corpus(tmp_path):
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.mkdir(), hyp.mkdir()
    (ref / "f1.rttm").write_text(REF_1, encoding="utf-8")
    (ref / "f2.rttm").write_text(rttm("f2", (0, 4, "MÉO069")), encoding="utf-8")
    (hyp / "f1.rttm").write_text(HYP_1, encoding="utf-8")
    (hyp / "f2.rttm").write_text(rttm("f2", (0, 4, "SPEAKER_00")), encoding="utf-8")
    # What 'diarize batch' leaves beside the per-file RTTMs: must not be counted twice.
    (hyp / "all.rttm").write_text(HYP_1 + rttm("f2", (0, 4, "SPEAKER_00")), encoding="utf-8")
    return ref, hyp


def test_cli_folders_json_and_collar_conventions(corpus):
    ref, hyp = corpus
    res = _run("score", ref, hyp, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    # f1: 2 s confusion of 20; f2: perfect (4 s). Total 2 / 24.
    assert data["total"]["der"] == pytest.approx(2 / 24, abs=1e-5)
    assert [f["uri"] for f in data["files"]] == ["f1", "f2"]
    assert data["settings"]["collar"] == 0
    # --collar-md-eval 0.5 is --collar 1.0: f1 as in test_der_with_collar_by_hand (1.5 of
    # 18 s); f2 (0-4 s) loses 0.5 s at each end: 3 s, correct. Total 1.5 / 21.
    for args in (("--collar", "1.0"), ("--collar-md-eval", "0.5")):
        data = json.loads(_run("score", ref, hyp, "--json", *args).stdout)
        assert data["total"]["der"] == pytest.approx(1.5 / 21, abs=1e-5)
        assert data["settings"]["collar_md_eval"] == pytest.approx(0.5)
    res = _run("score", ref, hyp, "--collar", 1, "--collar-md-eval", 0.5)
    assert res.exit_code == 2 and "not both" in res.stderr
    help_text = _run("score", "--help").output
    assert "TOTAL" in help_text and "md-eval" in help_text and "HALF" in help_text


def test_cli_table_csv_and_utf8_speaker(corpus):
    ref, hyp = corpus
    res = _run("score", ref, hyp, "--skip-overlap")
    assert res.exit_code == 0 and "overlap skipped" in res.stdout and "TOTAL" in res.stdout
    lines = _run("score", ref, hyp, "--csv").stdout.splitlines()
    assert lines[0].startswith("uri,status,") and lines[-1].startswith("TOTAL,total,")
    assert len(lines) == 4
    # A non-ASCII speaker name is read, mapped and scored like any other.
    s = score_one(read_rttm_source(ref)["f2"], read_rttm_source(hyp)["f2"])
    assert s.der == 0.0 and s.total == pytest.approx(4)


def test_missing_inputs_are_one_line_errors_like_everywhere_else(corpus, tmp_path):
    ref, hyp = corpus
    for args in (
        (tmp_path / "no.rttm", hyp),
        (ref, tmp_path / "no"),
        (ref, hyp, "--uem", tmp_path / "no.uem"),
    ):
        res = _run("score", *args)
        assert res.exit_code == 1 and "no such file" in res.stderr


def test_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.rttm"
    bad.write_text(REF_1 + "SPEAKER f1 1 abc 1.0 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(RTTMError, match=r"bad\.rttm:3:"):
        read_rttm_source(bad)
    good = tmp_path / "good.rttm"
    good.write_text(HYP_1)
    res = _run("score", bad, good)
    assert res.exit_code == 1 and "bad.rttm:3:" in res.stderr and "Traceback" not in res.output


def test_same_file_id_in_two_files_is_an_error(tmp_path):
    (tmp_path / "a.rttm").write_text(REF_1)
    (tmp_path / "b.rttm").write_text(REF_1)
    with pytest.raises(RTTMError, match="in both"):
        read_rttm_source(tmp_path)


def test_empty_rttm_in_a_folder_is_a_recording_without_speech(tmp_path):
    (tmp_path / "f1.rttm").write_text(HYP_1)
    (tmp_path / "silent.rttm").write_text("")
    hyps = read_rttm_source(tmp_path)
    assert set(hyps) == {"f1", "silent"} and hyps["silent"].turns == ()
    # Its reference has 4 s of speech: all missed, and no "missing hypothesis" warning.
    result = score_corpus(parse_rttm(rttm("silent", (0, 4, "A"))), hyps)
    assert result.reference_only == () and result.total.missed == pytest.approx(4)


def test_nothing_matched_is_an_error_not_a_der_of_100(corpus, tmp_path):
    ref, _ = corpus
    other = tmp_path / "other"
    other.mkdir()
    (other / "x1.rttm").write_text(rttm("x1", (0, 10, "A")))
    res = _run("score", ref, other)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().splitlines()[-1].startswith("Error: none of the file ids")
    assert "x1" in res.stderr and "f1, f2" in res.stderr and "DER" not in res.stdout
    # One file id in common is enough: the others are warned about and scored as before.
    (other / "f1.rttm").write_text(HYP_1)
    assert _run("score", ref, other).exit_code == 0
    # A recording the UEM lists, without reference speech, is something to score.
    uem = tmp_path / "all.uem"
    uem.write_text("x1 1 0 10\nf1 1 0 20\nf2 1 0 4\n")
    (other / "f1.rttm").unlink()
    assert _run("score", ref, other, "--uem", uem).exit_code == 0
