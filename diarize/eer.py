"""Speaker-verification trials and the equal error rate (EER) of embedding models.

Protocol (what ``diarize eval-embeddings`` reports): utterances of held-apart speakers
(``<folder>/<speaker>/<utterance>.flac``, or a pack whose item names are
``<speaker>/<utterance>``) are cut into consecutive non-overlapping segments of each length
from the utterance start (at most ``max_segments`` per utterance; a shorter rest is dropped).
Target trials are *all* pairs of segments of the same speaker from different utterances;
non-target trials are a seeded sample of pairs of segments of different speakers. The score is
the cosine of the two embeddings, or, with ``plda=True``, also the log-likelihood ratio of the
PLDA back end a model carries (what the pipeline clusters with). Optionally, each EER gets a
bootstrap interval over the speakers (:func:`eer_interval`). Speaker names serve evaluation
only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarize.backend import PLDA, model_plda
from diarize.encoder import EmbeddingModel
from diarize.errors import DiarizeError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class EvalError(DiarizeError):
    """The evaluation data cannot give trials."""


def compute_eer(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Equal error rate and its threshold.

    The false-rejection rate FRR(t) = share of targets scoring < t and the false-acceptance
    rate FAR(t) = share of non-targets scoring >= t are evaluated at every distinct score;
    the EER is where the two curves cross, linearly interpolated between the two thresholds
    that bracket the crossing.

    Parameters
    ----------
    scores : (num_trials,) float
    labels : (num_trials,) bool, True for target (same-speaker) trials
    weights : (num_trials,) float >= 0, optional
        How many times each trial counts in the shares (a bootstrap draw); None = once each.

    Returns
    -------
    (eer, threshold): eer in [0, 1]
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    if len(scores) != len(labels):
        raise EvalError(f"{len(scores)} scores but {len(labels)} labels")
    if weights is None:
        weights = np.ones(len(scores))
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(weights) != len(scores):
        raise EvalError(f"{len(scores)} scores but {len(weights)} weights")
    keep = weights > 0
    scores, labels, weights = scores[keep], labels[keep], weights[keep]
    if not labels.any() or labels.all():
        raise EvalError("EER needs target and non-target trials")
    thresholds = np.unique(scores)
    # Weight below each threshold (strictly), per class: cumulative sums over sorted scores.
    rates = []
    for cls in (labels, ~labels):
        order = np.argsort(scores[cls], kind="stable")
        sorted_scores = scores[cls][order]
        cum = np.concatenate([[0.0], np.cumsum(weights[cls][order])])
        rates.append(cum[np.searchsorted(sorted_scores, thresholds, side="left")] / cum[-1])
    frr, below_non = rates
    far = 1.0 - below_non
    # Add a threshold above every score (all rejected).
    thresholds = np.append(thresholds, thresholds[-1] + 1.0)
    frr = np.append(frr, 1.0)
    far = np.append(far, 0.0)
    diff = frr - far  # rises from -1 (t at minimum: frr 0, far 1) to +1
    k = int(np.argmax(diff >= 0))
    if k == 0 or diff[k] == 0:
        return float((frr[k] + far[k]) / 2), float(thresholds[k])
    # Interpolate both rates between k - 1 (frr < far) and k (frr >= far) to the crossing.
    w = diff[k - 1] / (diff[k - 1] - diff[k])
    frr_x = frr[k - 1] + w * (frr[k] - frr[k - 1])
    far_x = far[k - 1] + w * (far[k] - far[k - 1])
    eer = (frr_x + far_x) / 2
    threshold = thresholds[k - 1] + w * (thresholds[k] - thresholds[k - 1])
    return float(eer), float(threshold)


def eer_interval(
    scores: np.ndarray,
    labels: np.ndarray,
    speakers: np.ndarray,
    num_draws: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of the EER over speakers, the unit the trials are not independent
    in: each draw takes as many speakers as there are, with replacement, and counts a target
    trial of speaker ``s`` ``c_s`` times and a non-target trial of ``s`` and ``t``
    ``c_s * c_t`` times (``c``: how often each was drawn); draws without a target or a
    non-target trial are skipped.

    Parameters
    ----------
    speakers : (num_trials, 2) int, the speaker index of each trial's two segments

    Returns
    -------
    (low, high): the central ``level`` interval of the drawn EERs, in [0, 1]
    """
    speakers = np.asarray(speakers, dtype=np.int64)
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    if speakers.shape != (len(labels), 2):
        raise EvalError(f"speakers must be ({len(labels)}, 2), got {speakers.shape}")
    _, index = np.unique(speakers, return_inverse=True)
    index = index.reshape(speakers.shape)
    num = int(index.max()) + 1
    rng = np.random.default_rng(seed)
    eers = []
    for _ in range(num_draws):
        counts = np.bincount(rng.integers(0, num, num), minlength=num).astype(np.float64)
        weights = np.where(labels, counts[index[:, 0]], counts[index[:, 0]] * counts[index[:, 1]])
        if not (weights[labels] > 0).any() or not (weights[~labels] > 0).any():
            continue
        eers.append(compute_eer(scores, labels, weights)[0])
    if not eers:
        raise EvalError("no bootstrap draw holds both target and non-target trials")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(eers, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Segments:
    """Evaluation segments of one length.

    waveforms : (num_segments, num_samples) float32
    speaker, utterance : (num_segments,) int64 indices
    """

    length: float
    waveforms: np.ndarray
    speaker: np.ndarray
    utterance: np.ndarray


@dataclass(frozen=True)
class Trials:
    """Pairs of segment indices ``pairs`` (num_trials, 2) and ``target`` (num_trials,) bool."""

    pairs: np.ndarray
    target: np.ndarray


def load_utterances(source: str | Path) -> list[tuple[str, str, np.ndarray]]:
    """(speaker, utterance, waveform) from ``<source>/<speaker>/*`` audio or a pack."""
    from diarize.train.data import is_pack, read_pack

    source = Path(source)
    if is_pack(source):
        out = []
        for name, waveform in read_pack(source):
            speaker, _, utt = name.rpartition("/")
            out.append((speaker or utt.split("-")[0], utt, waveform))
        return out
    if not source.is_dir():
        raise EvalError(f"{source}: evaluation folder not found")
    from diarize import audio as audio_io

    out = []
    for spk_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        for path in sorted(spk_dir.iterdir()):
            if path.suffix.lower() in audio_io.AUDIO_SUFFIXES:
                out.append((spk_dir.name, path.stem, audio_io.load(path, SAMPLE_RATE)))
    if not out:
        raise EvalError(f"{source}: no <speaker>/<utterance> audio found")
    return out


def make_segments(
    utterances: list[tuple[str, str, np.ndarray]],
    length: float,
    max_segments: int,
    offset: float = 0.0,
) -> Segments:
    """Consecutive segments of ``length`` seconds from ``offset`` into each utterance."""
    n = int(round(length * SAMPLE_RATE))
    first = int(round(offset * SAMPLE_RATE))
    speakers = {s: i for i, s in enumerate(sorted({u[0] for u in utterances}))}
    wav, spk, utt = [], [], []
    for u, (speaker, _, waveform) in enumerate(utterances):
        for k in range(max_segments):
            a = first + k * n
            if a + n > len(waveform):
                break
            wav.append(waveform[a : a + n])
            spk.append(speakers[speaker])
            utt.append(u)
    if not wav:
        raise EvalError(f"no utterance is long enough for {length} s segments")
    return Segments(
        length,
        np.stack(wav).astype(np.float32),
        np.asarray(spk, np.int64),
        np.asarray(utt, np.int64),
    )


def make_trials(segments: Segments, num_nontarget: int, seed: int = 0) -> Trials:
    """All same-speaker cross-utterance pairs + a seeded sample of different-speaker pairs
    (without repeats; all of them if there are fewer)."""
    spk, utt = segments.speaker, segments.utterance
    i, j = np.triu_indices(len(spk), k=1)
    same_spk = spk[i] == spk[j]
    tar = np.flatnonzero(same_spk & (utt[i] != utt[j]))
    non = np.flatnonzero(~same_spk)
    rng = np.random.default_rng(seed)
    if len(non) > num_nontarget:
        non = np.sort(rng.choice(non, size=num_nontarget, replace=False))
    keep = np.concatenate([tar, non])
    pairs = np.stack([i[keep], j[keep]], axis=1).astype(np.int64)
    target = np.concatenate([np.ones(len(tar), bool), np.zeros(len(non), bool)])
    return Trials(pairs, target)


def score_trials(embeddings: np.ndarray, trials: Trials, plda: PLDA | None = None) -> np.ndarray:
    """Scores (num_trials,) of ``embeddings`` (num_segments, dim): cosine, or with ``plda``
    its same-versus-different log-likelihood ratio."""
    e = np.asarray(embeddings, dtype=np.float64)
    if plda is not None:
        return plda.score_pairs(e[trials.pairs[:, 0]], e[trials.pairs[:, 1]])
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", e[trials.pairs[:, 0]], e[trials.pairs[:, 1]])


@dataclass(frozen=True)
class EvalSet:
    """Segments and trials for each length (what one evaluation run scores every model on)."""

    segments: tuple[Segments, ...]
    trials: tuple[Trials, ...]

    def describe(self) -> str:
        parts = []
        for seg, tr in zip(self.segments, self.trials, strict=True):
            parts.append(
                f"{seg.length:g} s: {len(seg.waveforms)} segments of {len(set(seg.speaker))} "
                f"speakers, {int(tr.target.sum())} target / {int((~tr.target).sum())} non-target"
            )
        return "; ".join(parts)


def build_eval_set(
    utterances: list[tuple[str, str, np.ndarray]],
    lengths: tuple[float, ...] = (1.5, 3.0),
    max_seconds: float = 6.0,
    num_nontarget: int = 20000,
    seed: int = 0,
    offset: float = 0.0,
) -> EvalSet:
    """Segments of each length covering at most ``max_seconds`` from ``offset`` into each
    utterance (4 x 1.5 s and 2 x 3 s by default) and their trials."""
    segs, trials = [], []
    for length in lengths:
        seg = make_segments(utterances, length, max(int(max_seconds // length), 1), offset)
        segs.append(seg)
        trials.append(make_trials(seg, num_nontarget, seed))
    return EvalSet(tuple(segs), tuple(trials))


def embed_segments(model: EmbeddingModel, segments: Segments, batch_size: int = 256) -> np.ndarray:
    out = [
        model.embed(segments.waveforms[b : b + batch_size])
        for b in range(0, len(segments.waveforms), batch_size)
    ]
    return np.concatenate(out)


def eval_model(model: EmbeddingModel, eval_set: EvalSet) -> list[float]:
    """EER (in [0, 1]) of ``model`` at each length of ``eval_set``, cosine scores."""
    return eval_scorings(model, eval_set, (None,))[0]


def scorings_scores(
    model: EmbeddingModel, eval_set: EvalSet, scorings: tuple[PLDA | None, ...]
) -> list[list[np.ndarray]]:
    """Per scoring (None = cosine, or a PLDA back end), the trial scores at each length of
    ``eval_set``; the segments are embedded once."""
    out: list[list[np.ndarray]] = [[] for _ in scorings]
    for seg, tr in zip(eval_set.segments, eval_set.trials, strict=True):
        if hasattr(model, "fit_segments"):
            model.fit_segments(seg.waveforms)
        embeddings = embed_segments(model, seg)
        for scores, plda in zip(out, scorings, strict=True):
            scores.append(score_trials(embeddings, tr, plda))
    return out


def eval_scorings(
    model: EmbeddingModel, eval_set: EvalSet, scorings: tuple[PLDA | None, ...]
) -> list[list[float]]:
    """Per scoring (None = cosine, or a PLDA back end), the EER at each length of
    ``eval_set``; the segments are embedded once."""
    return [_eers(per, eval_set.trials) for per in scorings_scores(model, eval_set, scorings)]


def _eers(scores: list[np.ndarray], trials: tuple[Trials, ...]) -> list[float]:
    """The EER of each length's scores against its trials."""
    return [compute_eer(x, tr.target)[0] for x, tr in zip(scores, trials, strict=True)]


@dataclass(frozen=True)
class EvalResult:
    lengths: tuple[float, ...]
    rows: tuple[tuple[str, tuple[float, ...]], ...]  # (model name, EER per length)
    description: str
    # per row, per length: the bootstrap interval over speakers (eer_interval); () = none
    intervals: tuple[tuple[tuple[float, float], ...], ...] = ()

    def table(self) -> str:
        """Markdown table of EER (%), with the interval in brackets when there is one."""
        head = "| model | " + " | ".join(f"EER {x:g} s" for x in self.lengths) + " |"
        sep = "|---|" + "---|" * len(self.lengths)
        lines = [head, sep]
        for r, (name, eers) in enumerate(self.rows):
            cells = [f"{100 * e:.1f} %" for e in eers]
            if self.intervals:
                cells = [
                    f"{c} ({100 * lo:.1f}-{100 * hi:.1f})"
                    for c, (lo, hi) in zip(cells, self.intervals[r], strict=True)
                ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def evaluate(
    models: dict[str, EmbeddingModel],
    source: str | Path,
    lengths: tuple[float, ...] = (1.5, 3.0),
    num_nontarget: int = 20000,
    seed: int = 0,
    plda: bool = False,
    bootstrap: int = 0,
) -> EvalResult:
    """EER of every model on the same segments and trials; with ``plda``, every model that
    carries a PLDA back end gets a second row, "<name>, PLDA", scored by it; with
    ``bootstrap`` draws, a 95 % interval over speakers (:func:`eer_interval`) for each."""
    eval_set = build_eval_set(
        load_utterances(source), lengths, num_nontarget=num_nontarget, seed=seed
    )
    logger.info("trials: %s", eval_set.describe())
    speakers = [
        seg.speaker[tr.pairs] for seg, tr in zip(eval_set.segments, eval_set.trials, strict=True)
    ]
    rows, intervals = [], []
    for name, model in models.items():
        backend = model_plda(model) if plda else None
        names = [name] if backend is None else [name, f"{name}, PLDA"]
        scorings = (None,) if backend is None else (None, backend)
        per_scoring = scorings_scores(model, eval_set, scorings)
        for row_name, scores in zip(names, per_scoring, strict=True):
            trials = eval_set.trials
            eers = _eers(scores, trials)
            logger.info("%s: %s", row_name, ", ".join(f"{100 * e:.2f} %" for e in eers))
            rows.append((row_name, tuple(eers)))
            if bootstrap:
                intervals.append(
                    tuple(
                        eer_interval(x, tr.target, spk, bootstrap, seed=seed)
                        for x, tr, spk in zip(scores, trials, speakers, strict=True)
                    )
                )
    return EvalResult(tuple(lengths), tuple(rows), eval_set.describe(), tuple(intervals))


def evaluate_checkpoints(
    checkpoints: dict[str, str | Path | None],
    source: str | Path,
    lengths: tuple[float, ...] = (1.5, 3.0),
    baselines: bool = True,
    num_nontarget: int = 20000,
    seed: int = 0,
    plda: bool = False,
    bootstrap: int = 0,
) -> EvalResult:
    """:func:`evaluate` for encoder checkpoints (name -> path; None = the shipped model), with
    the MFCC-statistics and random-weights baselines (the first checkpoint's architecture;
    random weights need torch, the train extra, and are left out without it)."""
    import importlib.util

    from diarize.baselines import MfccStatsEncoder
    from diarize.config import EncoderConfig
    from diarize.encoder import load_encoder

    models: dict[str, EmbeddingModel] = {
        name: load_encoder(path) for name, path in checkpoints.items()
    }
    if baselines:
        models["MFCC statistics"] = MfccStatsEncoder()
        if importlib.util.find_spec("torch") is None:
            logger.warning("no 'random weights' baseline: it needs torch (the train extra)")
        else:
            from diarize.encoder import random_encoder

            first = next(iter(models.values()), None)
            config = getattr(getattr(first, "model", None), "config", None)
            spec = getattr(first, "encoder_config", None)  # an ONNX export's architecture
            if config is None and isinstance(spec, dict):
                config = EncoderConfig(**{**spec, "dilations": tuple(spec["dilations"])})
            feature_config = getattr(first, "feature_config", None) if config else None
            models["random weights"] = random_encoder(seed, config, feature_config)
    return evaluate(models, source, lengths, num_nontarget, seed, plda, bootstrap)
