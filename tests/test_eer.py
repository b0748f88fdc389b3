"""Equal error rate on score lists worked out by hand, trial construction, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.baselines import MfccStatsEncoder
from diarize.eer import (
    EvalError,
    Segments,
    compute_eer,
    eer_interval,
    make_segments,
    make_trials,
    score_trials,
)


def test_eer_hand_computed():
    # Targets 0.9 0.8 0.4, non-targets 0.5 0.3 0.2 0.1. At t = 0.4: FRR 0, FAR 1/4; at t = 0.5:
    # FRR 1/3, FAR 1/4. The curves cross 3/4 of the way: FRR = FAR = 1/4, t = 0.475.
    scores = np.array([0.9, 0.8, 0.4, 0.5, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    eer, threshold = compute_eer(scores, labels)
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.475)


def test_eer_perfect_and_inverted():
    labels = np.array([1, 1, 0, 0], dtype=bool)
    assert compute_eer(np.array([0.9, 0.8, 0.2, 0.1]), labels)[0] == 0.0
    assert compute_eer(np.array([0.1, 0.2, 0.8, 0.9]), labels)[0] == 1.0


def test_eer_ties_count_half():
    # All scores equal: every threshold either accepts or rejects everything -> 50 %.
    labels = np.array([1, 0, 1, 0], dtype=bool)
    assert compute_eer(np.full(4, 0.3), labels)[0] == pytest.approx(0.5)


def test_weights_count_a_trial_that_many_times():
    scores = np.array([0.9, 0.8, 0.4, 0.5, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    weights = np.array([1, 1, 3, 2, 1, 1, 0])
    repeated = compute_eer(np.repeat(scores, weights), np.repeat(labels, weights))
    assert compute_eer(scores, labels, weights) == pytest.approx(repeated)
    # by hand: targets 0.9 0.8 0.4 x3 (5), non-targets 0.5 x2 0.3 0.2 (4; 0.1 counts 0).
    # At t = 0.4: FRR 0, FAR 2/4; at t = 0.5: FRR 3/5, FAR 2/4. FAR stays at 1/2, FRR
    # reaches it 5/6 of the way: EER 1/2 at t = 0.4 + 5/6 x 0.1. Unweighted it is 1/4.
    eer, threshold = compute_eer(scores, labels, weights)
    assert eer == pytest.approx(0.5) and threshold == pytest.approx(0.4 + 0.1 * 5 / 6)
    assert compute_eer(scores, labels, np.ones(7)) == compute_eer(scores, labels)


def test_speaker_bootstrap_interval_spans_the_voice_that_makes_the_errors():
    # Four speakers; every trial separates perfectly except speaker 3's targets, which all
    # score below every non-target. Draws without speaker 3 give EER 0; draws where it
    # holds many of the targets give a high one.
    rng = np.random.default_rng(0)
    pairs, labels, scores = [], [], []
    for s in range(4):
        for _ in range(10):
            pairs.append((s, s))
            labels.append(True)
            scores.append(0.1 if s == 3 else 0.9 + 0.05 * rng.random())
        for t in range(s + 1, 4):
            for _ in range(10):
                pairs.append((s, t))
                labels.append(False)
                scores.append(0.5 + 0.1 * rng.random())
    scores, labels, pairs = np.array(scores), np.array(labels), np.array(pairs)
    point = compute_eer(scores, labels)[0]
    assert point == pytest.approx(0.25)  # a quarter of the targets fall below all non-targets
    low, high = eer_interval(scores, labels, pairs, num_draws=400, seed=1)
    assert low == 0.0 and 0.4 < high <= 1.0 and low < point < high
    assert eer_interval(scores, labels, pairs, num_draws=400, seed=1) == (low, high)
    # perfectly separated voices: the interval is a point at 0
    fine = np.where(labels, 0.9, 0.5)
    assert eer_interval(fine, labels, pairs, num_draws=50) == (0.0, 0.0)
    with pytest.raises(EvalError):
        eer_interval(scores, labels, pairs[:, :1])


def test_eer_needs_both_classes():
    with pytest.raises(EvalError):
        compute_eer(np.array([0.1, 0.2]), np.array([True, True]))


def test_segments_and_trials():
    utts = [
        ("s1", "u1", np.zeros(40000, np.float32)),  # 2.5 s: two 1 s segments (rest dropped)
        ("s1", "u2", np.zeros(20000, np.float32)),
        ("s2", "u3", np.zeros(20000, np.float32)),
        ("s2", "u4", np.zeros(9000, np.float32)),  # too short: no segment
    ]
    seg = make_segments(utts, 1.0, max_segments=4)
    assert seg.waveforms.shape == (4, 16000)
    assert seg.speaker.tolist() == [0, 0, 0, 1] and seg.utterance.tolist() == [0, 0, 1, 2]
    trials = make_trials(seg, num_nontarget=100)
    # Targets: same speaker, different utterance: (0,2), (1,2). Non-targets: (0,3), (1,3), (2,3).
    pairs = {tuple(p): bool(t) for p, t in zip(trials.pairs.tolist(), trials.target, strict=True)}
    assert pairs == {(0, 2): True, (1, 2): True, (0, 3): False, (1, 3): False, (2, 3): False}
    few = make_trials(seg, num_nontarget=2, seed=1)
    assert int(few.target.sum()) == 2 and int((~few.target).sum()) == 2
    np.testing.assert_array_equal(few.pairs, make_trials(seg, 2, seed=1).pairs)


def test_score_trials_cosine():
    seg = Segments(1.0, np.zeros((3, 10), np.float32), np.array([0, 0, 1]), np.array([0, 1, 2]))
    trials = make_trials(seg, 10)
    emb = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    np.testing.assert_allclose(score_trials(emb, trials), [1.0, 0.0, 0.0])


def test_mfcc_stats_encoder():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((5, 16000))).astype(np.float32)
    enc = MfccStatsEncoder().fit_segments(x)
    emb = enc.embed(x)
    assert emb.shape == (5, 40) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # Standardised on the same windows: each dimension has zero mean over them.
    raw = (enc.raw_stats(x) - enc.mean) / enc.scale
    np.testing.assert_allclose(raw.mean(0), 0.0, atol=1e-9)


class _VectorModel:
    """A stand-in encoder whose embedding of a segment is its first 4 samples."""

    dim = 4

    def __init__(self, extra=None):
        self.extra = extra or {}

    def embed(self, waveforms):
        return np.asarray(waveforms)[:, :4].astype(np.float32)


def _speakers_with_nuisance(seed, num_speakers=8, per_speaker=6):
    """Utterances (1 s, embedding in the first 4 samples): the speaker sits in dimensions 0-1
    (spread 1, jitter 0.05); dimensions 2-3 carry a loud per-utterance nuisance (spread 5) that
    drowns the speaker in a cosine score but that a PLDA fitted on it learns to ignore."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (num_speakers, 2))
    utts, vectors, labels = [], [], []
    for s in range(num_speakers):
        for u in range(per_speaker):
            v = np.concatenate([centres[s] + rng.normal(0, 0.05, 2), rng.normal(0, 5, 2)])
            x = np.zeros(16000, np.float32)
            x[:4] = v
            utts.append((f"spk{s}", f"u{u}", x))
            vectors.append(v)
            labels.append(s)
    return utts, np.array(vectors), np.array(labels)


def test_plda_scoring_ignores_what_varies_within_speakers(monkeypatch):
    from diarize import eer
    from diarize.backend import fit_plda

    _, train, labels = _speakers_with_nuisance(seed=1, num_speakers=40)
    plda = fit_plda(train, labels)
    extra = {"plda": {k: getattr(plda, k) for k in ("mean", "whiten", "transform", "psi")}}
    utts, _, _ = _speakers_with_nuisance(seed=2)
    monkeypatch.setattr(eer, "load_utterances", lambda source: utts)
    models = {"with back end": _VectorModel(extra), "without": _VectorModel()}
    result = eer.evaluate(models, "unused", lengths=(1.0,), plda=True)
    rows = dict(result.rows)
    # only the model that carries a back end gets a PLDA row
    assert list(rows) == ["with back end", "with back end, PLDA", "without"]
    # the same embeddings: cosine is swamped by the nuisance (chance level), PLDA separates
    # the speakers (not perfectly: its length norm lets the nuisance scale dimensions 0-1)
    assert rows["with back end"] == rows["without"]
    assert rows["with back end"][0] > 0.35
    assert rows["with back end, PLDA"][0] < 0.15
    # without plda=True, cosine rows only
    assert [name for name, _ in eer.evaluate(models, "unused", (1.0,)).rows] == list(models)
