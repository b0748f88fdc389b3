"""The DER benchmark's bookkeeping, on references and hypotheses worked out by hand."""

import numpy as np
import pytest

from benchmarks.der import (
    Item,
    Scores,
    Variant,
    measured_code,
    overlap_regions,
    reference_labels,
    reference_overlap_probabilities,
    reference_overlaps,
    reference_speech,
    reference_speech_regions,
    reference_stats,
    threshold_label,
    window_reference_labels,
)
from benchmarks.encoders import ConstantEncoder, MfccStats
from diarize.config import PipelineConfig, update_config
from diarize.pipeline import Pipeline
from diarize.types import Diarization, Turn
from tests.conftest import SR, SYNTH_CONFIG, conversation


def _d(uri, *turns):
    return Diarization(uri, tuple(Turn(s, e, spk) for s, e, spk in turns), 20.0)


def _item(ref):
    return Item(ref.uri, None, ref, [(0.0, 20.0)], 20.0)


def test_corpus_der_is_total_error_over_total_speech():
    pytest.importorskip("pyannote.metrics")  # the score extra
    scores = Scores()
    # File a: perfect (10 s of speech). File b: 20 s, half of it given to the wrong speaker.
    scores.add(_item(_d("a", (0, 10, "A"))), _d("a", (0, 10, "x")), 1.0, 1.0)
    scores.add(_item(_d("b", (0, 10, "A"), (10, 20, "B"))), _d("b", (0, 20, "x")), 1.0, 1.0)
    s = scores.summary()
    assert s["der"] == pytest.approx(10 / 30)  # not the mean of 0 % and 50 %
    assert s["confusion"] == pytest.approx(10 / 30) and s["missed"] == 0.0
    assert s["count_error"] == pytest.approx(0.5) and s["count_exact"] == pytest.approx(0.5)
    assert s["rtf"] == pytest.approx(2.0 / 40.0)


def test_overlap_share_of_the_error():
    pytest.importorskip("pyannote.metrics")  # the score extra
    ref = _d("o", (0, 12, "A"), (5, 15, "B"))
    assert overlap_regions(ref, [(0.0, 20.0)]) == [(5, 12)]
    assert overlap_regions(ref, [(0.0, 8.0)]) == [(5, 8)]
    scores = Scores()
    scores.add(_item(ref), _d("o", (0, 15, "x")), 1.0, 1.0)
    s = scores.summary()
    # 22 s of speech; x maps to A; 7 s of B missed in the overlap, B's 12-15 s confused.
    assert s["der"] == pytest.approx(10 / 22)
    assert s["missed"] == pytest.approx(7 / 22) and s["confusion"] == pytest.approx(3 / 22)
    assert s["in_overlap"] == pytest.approx(7 / 22)
    assert s["missed_in_overlap"] == pytest.approx(7 / 22)
    st = reference_stats([_item(ref)])
    assert st["overlap_share"] == pytest.approx(7 / 22)


def test_constant_encoder_gives_one_speaker(two_voices):
    waveform, _ = two_voices
    result = Pipeline(SYNTH_CONFIG, encoder=ConstantEncoder())(waveform, num_speakers=None)
    assert result.num_speakers == 1 and len(result.turns) >= 1


def test_mfcc_windows_match_single_windows():
    x, _ = conversation()
    enc = MfccStats()
    bounds = np.array([[0, 24000], [4000, 28000], [16000, 40000]])
    enc.fit(enc.raw_stats(x, bounds))
    a = enc.embed_windows(x, bounds)
    b = enc.embed(np.stack([x[s:e] for s, e in bounds]))
    assert a.shape == (3, enc.dim)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert SR == enc.sample_rate


def test_reference_speech_regions_merge_overlap_and_keep_to_the_uem():
    ref = _d("r", (0, 12, "A"), (5, 15, "B"), (17, 19, "A"))
    item = Item("r", None, ref, [(1.0, 18.0)], 20.0)
    regions = reference_speech_regions(item, 20 * SR, SR)
    np.testing.assert_array_equal(regions, [[1 * SR, 15 * SR], [17 * SR, 18 * SR]])


def test_reference_overlaps_replace_the_overlap_detectors_regions_while_active():
    import diarize.overlap as overlap_module

    # A and B overlap over 5-8 s, B and C over 14-15 s; the UEM ends at 14.5 s
    ref = _d("r", (0, 8, "A"), (5, 15, "B"), (14, 19, "C"))
    item = Item("r", None, ref, [(0.0, 14.5)], 20.0)
    original = overlap_module.overlap_regions
    with reference_overlaps(item, SR):
        bounds = overlap_module.overlap_regions(np.zeros(10), None)
    np.testing.assert_array_equal(bounds, [[5 * SR, 8 * SR], [14 * SR, int(14.5 * SR)]])
    assert overlap_module.overlap_regions is original
    nothing = Item("n", None, _d("n", (0, 8, "A")), [(0.0, 20.0)], 20.0)
    with reference_overlaps(nothing, SR):
        assert overlap_module.overlap_regions(np.zeros(10), None).shape == (0, 2)


def test_reference_overlap_probabilities_are_one_inside_the_overlap_only():
    import diarize.overlap as overlap_module

    # A and B overlap over 5-8 s; the UEM ends at 7 s. Frame t is centred on 0.01 t + 0.0125 s
    # (25-ms frames every 10 ms), so frames 499-698 (centres 5.0025-6.9925 s) are overlap.
    ref = _d("r", (0, 8, "A"), (5, 15, "B"))
    item = Item("r", None, ref, [(0.0, 7.0)], 20.0)
    original = overlap_module.overlap_probability
    with reference_overlap_probabilities(item, SR):
        probs = overlap_module.overlap_probability(np.zeros(10 * SR, np.float32), None, None)
    assert overlap_module.overlap_probability is original
    assert len(probs) == 1 + (10 * SR - 400) // 160
    assert np.flatnonzero(probs).tolist() == list(range(499, 699))
    assert set(np.unique(probs)) == {0.0, 1.0}


def test_reference_speech_replaces_the_detector_while_active(two_voices, tiny_encoder):
    waveform, turns = two_voices
    ref = Diarization("c", tuple(Turn(s, e, w) for s, e, w in turns), len(waveform) / SR)
    item = Item("c", None, ref, [(0.0, ref.duration)], ref.duration)
    # Silero hears no speech in the synthetic vowels: without the reference, nothing comes out.
    config = update_config(PipelineConfig(), {"vad": {"pad": 0.0}})
    pipeline = Pipeline(config, encoder=tiny_encoder)
    assert pipeline(waveform, uri="c").turns == ()
    with reference_speech(item):
        out = pipeline(waveform, uri="c")
    covered = sum(t.end - t.start for t in out.turns)
    assert covered == pytest.approx(sum(e - s for s, e, _ in turns), abs=0.02)
    assert all(
        any(s - 0.01 <= t.start and t.end <= e + 0.01 for s, e, _ in turns) for t in out.turns
    )
    assert pipeline(waveform, uri="c").turns == ()  # the detector is back


def test_report_headers_name_the_installed_numerical_packages_and_skip_absent_ones():
    import numpy

    from benchmarks.der import package_versions, report_header

    assert package_versions(("numpy", "no-such-package-here")) == f"numpy {numpy.__version__}"
    assert package_versions(("no-such-package-here",)) == "none of no-such-package-here"
    header = report_header("T", "cmd")
    assert header[0] == "# T"
    assert f"numpy {numpy.__version__}" in next(h for h in header if h.startswith("- packages:"))


def test_the_speech_gate_keeps_only_what_both_region_lists_cover():
    from benchmarks.speech_gate import intersect

    speech = np.array([[0, 100], [200, 300], [400, 500]])
    foreground = np.array([[50, 250], [290, 310], [600, 700]])
    np.testing.assert_array_equal(
        intersect(speech, foreground), [[50, 100], [200, 250], [290, 300]]
    )
    assert intersect(speech, np.zeros((0, 2), dtype=np.int64)).shape == (0, 2)


def test_false_alarm_is_binned_by_its_distance_to_reference_speech():
    from benchmarks.false_alarm import FRAME, Tally, frames

    n = 400  # 4 s of 10-ms frames
    # reference speech 0.5-1.0 s and 1.3-2.0 s; detected 0.4-2.2 s and 3.5-3.6 s
    reference = frames(np.array([[0.5, 1.0], [1.3, 2.0]]), n, 1.0)
    detected = frames(np.array([[0.4, 2.2], [3.5, 3.6]]), n, 1.0)
    scored = np.ones(n, bool)
    t = Tally()
    t.add(reference, detected, scored)
    np.testing.assert_allclose(t.speech, 1.2)  # 0.5 + 0.7 s
    # false alarm: 0.4-0.5 s (0.01-0.1 s from speech), the 0.3-s pause 1.0-1.3 s (at most
    # 0.15 s), 2.0-2.2 s (0.01-0.2 s) and 3.5-3.6 s (1.5 s and more)
    np.testing.assert_allclose(t.bins.sum(), 0.7)
    np.testing.assert_allclose(t.bins[:3].sum(), 0.6)  # within 0.3 s
    np.testing.assert_allclose(t.bins[3:5], 0.0)  # nothing 0.3-1.0 s away
    np.testing.assert_allclose(t.bins[-1], 0.1)  # 3.5-3.6 s: over 1 s from any speech
    assert round(t.pause / FRAME) == 30  # only the pause has speech within 1 s on both sides
    # only the UEM counts
    t2 = Tally()
    t2.add(reference, detected, frames(np.array([[0.0, 1.0]]), n, 1.0))
    np.testing.assert_allclose([t2.bins.sum(), t2.speech], [0.1, 0.5])


def test_a_carving_pick_that_raises_any_domain_is_not_a_default():
    from benchmarks.background import verdict

    current = {"a": 0.400, "b": 0.300}
    # mean down 1.5 points, b up 0.3: not a default
    text = verdict({"a": 0.370, "b": 0.303}, current)
    assert "not a default" in text and "b by 0.3" in text and "a by" not in text
    # both down: a default
    assert "raises no domain" in verdict({"a": 0.390, "b": 0.299}, current)
    # the same DERs, or a higher mean: not a default
    assert "does not lower the mean" in verdict(current, current)
    assert "does not lower the mean" in verdict({"a": 0.380, "b": 0.330}, current)


def test_window_reference_labels_by_hand():
    # A talks 0-4 s, B 3-10 s, nobody 10-14 s, A again 14-20 s.
    item = _item(_d("w", (0.0, 4.0, "A"), (3.0, 10.0, "B"), (14.0, 20.0, "A")))
    centres = np.array([1.0, 3.6, 3.2, 8.0, 12.0, 13.5, 19.0])
    labels = window_reference_labels(item, centres, 0.75)
    # Within 0.75 s of each centre: 1.0 A alone; 3.6 A 1.15 s, B 1.35 s; 3.2 A 1.5, B 0.95;
    # 8.0 B alone; 12.0 nobody, and the nearest window with speech is 13.5's (1.5 s away, A
    # 0.25 s); 19.0 A alone. A is label 0, B label 1.
    assert labels.tolist() == [0, 1, 0, 1, 0, 0, 0]
    assert window_reference_labels(_item(_d("e")), centres, 0.75).tolist() == [0] * 7


def test_reference_labels_replace_the_clustering_while_active(two_voices, tiny_encoder):
    """With the reference's labels a random encoder separates the two synthetic voices as
    the reference does; outside the context the clustering is back."""
    waveform, turns = two_voices
    ref = Diarization("c", tuple(Turn(s, e, w) for s, e, w in turns), len(waveform) / SR)
    item = Item("c", None, ref, [(0.0, ref.duration)], ref.duration)
    pipeline = Pipeline(update_config(SYNTH_CONFIG, {"overlap": {"enabled": False}}), tiny_encoder)
    with reference_labels(item):
        out = pipeline(waveform, uri="c")
    assert out.num_speakers == 2
    owner = {}
    for s, e, who in turns:
        mid = (s + e) / 2
        owner.setdefault(who, {t.speaker for t in out.turns if t.start <= mid < t.end})
    assert len(owner["A"]) == len(owner["B"]) == 1 and owner["A"] != owner["B"]
    import diarize.pipeline as pipeline_module

    clustering = pipeline_module.cluster
    with reference_labels(item):
        assert pipeline_module.cluster is not clustering
    assert pipeline_module.cluster is clustering  # the real clustering again


def test_report_headers_flag_changes_to_the_code_they_measure_not_to_reports():
    assert measured_code("diarize/pipeline.py")
    assert measured_code("models/encoder-v5.npz")
    assert measured_code("benchmarks/der.py")
    assert not measured_code("benchmarks/reports/CROSSDOMAIN.md")
    assert not measured_code("README.md")
    assert not measured_code("tests/test_pipeline.py")


def test_the_oracle_labels_row_says_so_in_its_threshold_column():
    row = Variant("oracle-labels", "shipped", "perfect labels", labels="reference")
    assert threshold_label(row, 0.5, "learned") == "reference labels"
    assert threshold_label(Variant("shipped", "shipped", "as shipped"), 0.5, "learned") == (
        "0.500 (learned)"
    )


def test_the_oracle_count_is_given_exactly_or_as_an_upper_bound(tmp_path):
    pytest.importorskip("pyannote.metrics")  # the score extra
    import soundfile as sf

    from benchmarks.der import run_set

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(SR, dtype=np.float32), SR)
    ref = Diarization("a", (Turn(0.0, 0.5, "x"), Turn(0.5, 1.0, "y"), Turn(0.2, 0.4, "z")), 1.0)
    item = Item("a", wav, ref, [(0.0, 1.0)], 1.0)

    class Recorder:
        def __init__(self):
            self.calls = []

        def __call__(self, audio, uri=None, **given):
            self.calls.append((uri, given))
            return Diarization(uri, (Turn(0.0, 1.0, "s"),), 1.0)

    expected = {
        False: {"num_speakers": None},
        True: {"num_speakers": 3},
        "max": {"max_speakers": 3},
    }
    for oracle, given in expected.items():
        pipeline = Recorder()
        scores = run_set(pipeline, [item], oracle, lambda _: None, "row")
        # the warm-up call first (on 10 s of the first file), then the file itself
        assert pipeline.calls[-1] == ("a", given) and len(scores.files) == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("oracle", "Max"),
        ("oracle", 2),
        ("speech", "refrence"),
        ("overlaps", "ref"),
        ("labels", "oracle"),
    ],
)
def test_a_variant_with_a_misspelt_choice_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        Variant("typo", "shipped", "a misspelt choice", **{field: value})


def test_every_listed_variant_names_known_choices():
    # building the tables' rows would have raised; the choices they use are the documented ones
    from benchmarks.crossdomain import VARIANTS as CROSS
    from benchmarks.der import VARIANTS

    assert {v.oracle for v in VARIANTS + CROSS} == {False, True, "max"}


def test_the_oracle_rows_say_how_the_count_was_given():
    assert threshold_label(Variant("m", "shipped", "bound", oracle="max"), None, "") == (
        "vbx, at most the oracle count"
    )
    assert threshold_label(Variant("c", "shipped", "count", oracle=True), None, "") == (
        "oracle count"
    )
