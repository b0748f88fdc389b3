"""From window labels to turns: frame-level scores, Viterbi resegmentation, minimum duration.

Each window's similarity to every speaker centroid is spread over the frames it covers and
averaged (a frame inside six overlapping windows gets the mean of six score vectors). A
Viterbi pass over each speech region then picks one speaker per frame, paying
``switch_penalty`` (log domain) for every change of speaker, with frame log-likelihoods
``similarity / temperature``. Only the speakers that own at least ``local_min_share`` of
the windows within ``local_horizon`` seconds of a speech region are candidates in it, so
on a long recording a voice from another part cannot take over a stretch it resembles.
Turns shorter than ``min_duration`` are absorbed by the neighbour they resemble most.
Without resegmentation, each frame takes the majority label of the windows covering it.

A second pass (:func:`refine_gmm`, ``gmm_rounds`` > 0) sharpens the turn boundaries, which
1.5 s windows blur: a small Gaussian mixture per speaker on 10 ms MFCC frames, trained on
the frames the first pass gave that speaker, relabels every speech frame by Viterbi over
the smoothed frame log-likelihoods (the classic GMM resegmentation of speaker diarization).
"""

from __future__ import annotations

import numpy as np

from diarize.cluster import centroids
from diarize.config import ResegmentConfig
from diarize.features import moving_average
from diarize.gmm import DiagonalGMM
from diarize.progress import report
from diarize.types import Regions, Turn


def frame_scores(
    bounds: np.ndarray, scores: np.ndarray, num_frames: int, frame_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average window scores over the frames each window covers.

    Parameters
    ----------
    bounds : (num_windows, 2) int64 [start, end) samples
    scores : (num_windows, k) float
    num_frames : frames of ``frame_samples`` samples each covering the recording

    Returns
    -------
    frame : (num_frames, k) float64 mean score per frame (0 where no window covers it)
    count : (num_frames,) int64 number of windows covering each frame
    """
    k = scores.shape[1]
    f0 = np.clip(bounds[:, 0] // frame_samples, 0, num_frames)
    f1 = np.clip(-(-bounds[:, 1] // frame_samples), 0, num_frames)
    diff = np.zeros((num_frames + 1, k), dtype=np.float64)
    np.add.at(diff, f0, scores)
    np.add.at(diff, f1, -scores)
    cnt = np.zeros(num_frames + 1, dtype=np.int64)
    np.add.at(cnt, f0, 1)
    np.add.at(cnt, f1, -1)
    total = np.cumsum(diff[:-1], axis=0)
    count = np.cumsum(cnt[:-1])
    frame = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], 0.0)
    return frame, count


def _fill_uncovered(scores: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Give frames no window covers the scores of the nearest covered frame."""
    if covered.all() or not covered.any():
        return scores
    idx = np.flatnonzero(covered)
    pos = np.arange(len(scores))
    right = np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)
    left = np.clip(right - 1, 0, len(idx) - 1)
    nearest = np.where(np.abs(idx[left] - pos) <= np.abs(idx[right] - pos), idx[left], idx[right])
    return scores[nearest]


def viterbi(loglik: np.ndarray, switch_penalty: float) -> np.ndarray:
    """Best state path for per-frame log-likelihoods (num_frames, k) with a fixed switch cost.

    Each frame either stays in its state or switches from the best state of the previous
    frame, paying ``switch_penalty``; ties keep the lowest state index. Plain Python over
    lists: with a handful of speakers that is several times faster than numpy calls on
    k-element arrays.

    Returns (num_frames,) int64 state indices.
    """
    num_frames, k = loglik.shape
    if k == 1 or num_frames == 0:
        return np.zeros(num_frames, dtype=np.int64)
    rows = np.asarray(loglik, dtype=np.float64).tolist()
    states = range(k)
    delta = list(rows[0])
    back: list[list[int]] = [[]] * num_frames
    for t in range(1, num_frames):
        best = max(states, key=delta.__getitem__)
        switch = delta[best] - switch_penalty
        row = rows[t]
        came = [best] * k
        for j in states:
            if delta[j] >= switch:  # always true for `best` itself
                came[j] = j
                delta[j] += row[j]
            else:
                delta[j] = switch + row[j]
        back[t] = came
    path = np.empty(num_frames, dtype=np.int64)
    state = max(states, key=delta.__getitem__)
    path[-1] = state
    for t in range(num_frames - 1, 0, -1):
        state = back[t][state]
        path[t - 1] = state
    return path


def _runs(path: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) runs of equal values, end exclusive."""
    if len(path) == 0:
        return []
    change = np.flatnonzero(np.diff(path)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(path)]])
    return [(int(s), int(e), int(path[s])) for s, e in zip(starts, ends, strict=True)]


def _absorb_short(path: np.ndarray, scores: np.ndarray, min_frames: int) -> np.ndarray:
    """Relabel runs shorter than ``min_frames`` with the neighbouring speaker they score best
    for; the shortest run goes first, so a flicker never outlives its surroundings."""
    path = path.copy()
    while True:
        runs = _runs(path)
        if len(runs) <= 1:
            return path
        lengths = [e - s for s, e, _ in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_frames:
            return path
        s, e, _ = runs[i]
        options = []
        if i > 0:
            options.append(runs[i - 1][2])
        if i + 1 < len(runs):
            options.append(runs[i + 1][2])
        best = max(options, key=lambda spk: scores[s:e, spk].sum())
        path[s:e] = best


def local_speakers(
    bounds: np.ndarray,
    labels: np.ndarray,
    regions: Regions,
    horizon: int,
    k: int,
    min_share: float = 0.0,
) -> np.ndarray:
    """(num_regions, k) bool: the speakers that own more than ``min_share`` of the windows
    whose centres lie within ``horizon`` samples of each region, and at least one of them.
    The speaker owning the most such windows is always a candidate."""
    centres = (bounds[:, 0] + bounds[:, 1]) // 2
    order = np.argsort(centres, kind="stable")
    centres, ordered = centres[order], labels[order]
    lo = np.searchsorted(centres, regions[:, 0] - horizon, side="left")
    hi = np.searchsorted(centres, regions[:, 1] + horizon, side="right")
    allowed = np.zeros((len(regions), k), dtype=bool)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b <= a:
            continue
        owned = np.bincount(ordered[a:b], minlength=k)
        allowed[i] = owned > min_share * (b - a)
        allowed[i, np.argmax(owned)] = True
    # A region without any window nearby (only possible with a tiny horizon) keeps them all.
    allowed[~allowed.any(axis=1)] = True
    return allowed


#: EM iterations of each speaker model (a few are enough for the second pass)
GMM_MAX_ITER = 10
#: speakers with fewer speech frames than this get no model
MIN_MODEL_FRAMES = 100

#: Score given to speakers that are not candidates in a region (far below any similarity).
_EXCLUDED = -1e6


def resegment(
    bounds: np.ndarray,
    embeddings: np.ndarray,
    labels: np.ndarray,
    regions: Regions,
    num_samples: int,
    config: ResegmentConfig,
    sample_rate: int = 16000,
    keep_all: bool = False,
    candidates: np.ndarray | None = None,
) -> list[tuple[int, int, int]]:
    """Label every speech sample with one speaker.

    With ``keep_all``, a cluster that resegmentation would make vanish keeps the span of its
    most confident window (an exact or minimum speaker count must survive this stage).

    Parameters
    ----------
    bounds : (num_windows, 2) int64 window [start, end) in samples
    embeddings : (num_windows, dim) float32, L2-normed
    labels : (num_windows,) int64 cluster of each window, 0..k-1
    regions : (num_regions, 2) int64 speech [start, end) in samples
    candidates : (num_regions, k) bool speakers allowed per region; None =
        :func:`candidate_speakers` of ``config``

    Returns
    -------
    segments : list of (start_sample, end_sample, speaker_index), sorted, non-overlapping
    """
    if len(regions) == 0:
        return []
    if len(labels) == 0:
        return [(int(s), int(e), 0) for s, e in regions]
    frame_samples = max(1, int(round(config.frame_step * sample_rate)))
    num_frames = -(-num_samples // frame_samples)
    k = int(labels.max()) + 1
    if config.enabled:
        window_scores = embeddings @ centroids(embeddings, labels).T
    else:
        window_scores = np.eye(k)[labels]
    scores, count = frame_scores(bounds, window_scores, num_frames, frame_samples)
    scores = _fill_uncovered(scores, count > 0)
    min_frames = max(1, int(round(config.min_duration / config.frame_step)))
    allowed = candidates
    if allowed is None:
        allowed = candidate_speakers(bounds, labels, regions, k, config, sample_rate)
    paths = []
    for (start, end), ok in zip(regions, allowed, strict=True):
        a = int(start) // frame_samples
        b = max(a + 1, -(-int(end) // frame_samples))
        region_scores = np.where(ok, scores[a:b], _EXCLUDED)
        if config.enabled:
            path = viterbi(region_scores / config.temperature, config.switch_penalty)
            path = _absorb_short(path, region_scores, min_frames)
        else:
            path = np.argmax(region_scores, axis=1)
        paths.append((int(start), int(end), a, path))
    if keep_all:
        _restore_missing(paths, bounds, window_scores, labels, frame_samples)
    segments: list[tuple[int, int, int]] = []
    for start, end, a, path in paths:
        for s, e, spk in _runs(path):
            seg_start = max(start, (a + s) * frame_samples)
            seg_end = min(end, (a + e) * frame_samples)
            if seg_end > seg_start:
                segments.append((seg_start, seg_end, spk))
    return segments


def _restore_missing(
    paths: list[tuple[int, int, int, np.ndarray]],
    bounds: np.ndarray,
    window_scores: np.ndarray,
    labels: np.ndarray,
    frame_samples: int,
) -> None:
    """Give each cluster absent from ``paths`` the frames of its most confident window."""
    present = set()
    for *_, path in paths:
        present.update(np.unique(path).tolist())
    others = window_scores.copy()
    for k in range(window_scores.shape[1]):
        if k in present or not np.any(labels == k):
            continue
        others[:, k] = -np.inf
        margin = window_scores[:, k] - others.max(axis=1)
        others[:, k] = window_scores[:, k]
        candidates = np.flatnonzero(labels == k)
        w = candidates[np.argmax(margin[candidates])]
        f0, f1 = bounds[w, 0] // frame_samples, -(-bounds[w, 1] // frame_samples)
        for _, _, a, path in paths:
            lo, hi = max(f0 - a, 0), min(f1 - a, len(path))
            if hi > lo:
                path[lo:hi] = k


def to_turns(
    segments: list[tuple[int, int, int]], sample_rate: int = 16000, min_pause: float = 0.0
) -> tuple[Turn, ...]:
    """Merge touching or overlapping segments of each speaker, and those less than
    ``min_pause`` seconds apart; name speakers SPEAKER_00, ... in order of first appearance.
    Turns of different speakers may overlap."""
    bridge = int(round(min_pause * sample_rate))
    merged: list[list[int]] = []
    last: dict[int, list[int]] = {}
    for start, end, spk in sorted(segments):
        prev = last.get(spk)
        if prev is not None and start - prev[1] < max(bridge, 1):
            prev[1] = max(prev[1], end)
        else:
            last[spk] = [start, end, spk]
            merged.append(last[spk])
    names: dict[int, str] = {}
    for _start, _end, spk in sorted(merged):
        names.setdefault(spk, f"SPEAKER_{len(names):02d}")
    turns = [Turn(start / sample_rate, end / sample_rate, names[spk]) for start, end, spk in merged]
    return tuple(sorted(turns))


def candidate_speakers(
    bounds: np.ndarray,
    labels: np.ndarray,
    regions: Regions,
    k: int,
    config: ResegmentConfig,
    sample_rate: int = 16000,
) -> np.ndarray:
    """(num_regions, k) bool: the speakers that may be chosen in each speech region (the local
    speaker set of ``config``, or every speaker when it is off)."""
    regions = np.asarray(regions)
    if config.local_horizon > 0 and k > 1 and len(labels):
        horizon = int(round(config.local_horizon * sample_rate))
        return local_speakers(bounds, labels, regions, horizon, k, config.local_min_share)
    return np.ones((len(regions), k), dtype=bool)


def _evenly(idx: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` of ``idx``, evenly spaced (all of them when there are fewer)."""
    return idx if len(idx) <= most else idx[np.linspace(0, len(idx) - 1, most).astype(np.int64)]


def _fit_mixture(
    feats: np.ndarray, rows: np.ndarray, components: int, most: int, seed: int, max_iter: int
) -> DiagonalGMM:
    """A diagonal Gaussian mixture on at most ``most`` evenly spaced ``rows`` of ``feats``,
    with up to ``components`` components (one per 50 frames at least)."""
    own = _evenly(rows, most)
    gmm = DiagonalGMM(
        min(components, max(1, len(own) // 50)), reg_covar=1e-3, max_iter=max_iter, seed=seed
    )
    return gmm.fit(feats[own])


def _fit_speaker_models(
    feats: np.ndarray,
    label: np.ndarray,
    k: int,
    config: ResegmentConfig,
    seed: int,
    max_train_frames: int,
) -> dict:
    """A diagonal Gaussian mixture per speaker with enough frames labelled for it (a few EM
    iterations are enough here; not converging is expected)."""
    models = {}
    for spk in range(k):
        own = np.flatnonzero(label == spk)
        if len(own) < MIN_MODEL_FRAMES:
            continue
        models[spk] = _fit_mixture(
            feats, own, config.gmm_components, max_train_frames, seed, GMM_MAX_ITER
        )
    return models


def refine_gmm(
    segments: list[tuple[int, int, int]],
    frames: np.ndarray,
    hop: int,
    regions: Regions,
    candidates: np.ndarray,
    config: ResegmentConfig,
    keep_all: bool = False,
    seed: int = 0,
    sample_rate: int = 16000,
    max_train_frames: int = 4000,
) -> list[tuple[int, int, int]]:
    """Second resegmentation pass on short-term features (e.g. 10 ms MFCCs).

    Each speaker gets a diagonal Gaussian mixture fitted on the frames the first pass gave
    it; every speech frame's log-likelihood under each candidate speaker is averaged over
    ``config.gmm_smooth`` seconds and a Viterbi pass per region (``config.gmm_penalty`` per
    change) relabels the frames, ``config.gmm_rounds`` times. A region is left as it was
    when fewer than two candidates can be modelled there, or when a speaker talking in it
    has too little speech (< 1 s) for a model. Turns shorter than ``config.min_duration``
    are absorbed as in the first pass. With ``keep_all``, a speaker the pass would remove
    keeps its first-pass frames. A boundary may land up to half the smoothing width on the
    side of the speaker whose model is the more diffuse.

    Parameters
    ----------
    segments : (start_sample, end_sample, speaker) of the first pass, not overlapping
    frames : (num_frames, dim) features; frame ``t`` describes samples ``[t * hop, (t + 1) * hop)``
    regions : (num_regions, 2) speech [start, end) samples; ``candidates`` (num_regions, k) bool

    Returns
    -------
    segments : list of (start_sample, end_sample, speaker_index), sorted, non-overlapping
    """
    from threadpoolctl import threadpool_limits

    # The matrices here are small (frames x 20 features x 8 components): BLAS threads only
    # wait on each other, up to 50 times slower than one thread when other processes keep
    # the cores busy. One thread gives the same numbers.
    with threadpool_limits(limits=1, user_api="blas"):
        return _refine_gmm(
            segments,
            frames,
            hop,
            regions,
            candidates,
            config,
            keep_all,
            seed,
            sample_rate,
            max_train_frames,
        )


def _refine_gmm(
    segments: list[tuple[int, int, int]],
    frames: np.ndarray,
    hop: int,
    regions: Regions,
    candidates: np.ndarray,
    config: ResegmentConfig,
    keep_all: bool,
    seed: int,
    sample_rate: int,
    max_train_frames: int,
) -> list[tuple[int, int, int]]:
    if config.gmm_rounds <= 0 or not segments or candidates.shape[1] < 2:
        return segments
    num_frames = len(frames)
    k = candidates.shape[1]
    label = np.full(num_frames, -1, dtype=np.int64)
    for start, end, spk in segments:
        label[round(start / hop) : round(end / hop)] = spk
    spans = [
        (max(0, round(int(s) / hop)), min(num_frames, round(int(e) / hop))) for s, e in regions
    ]
    speech = np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.zeros(0, int)
    if len(speech) < 2:
        return segments
    # Standardised features of the speech frames only, region after region.
    feats = frames[speech].astype(np.float32)
    feats -= feats.mean(axis=0)
    feats /= np.maximum(feats.std(axis=0), 1e-6)
    offsets = np.concatenate([[0], np.cumsum([b - a for a, b in spans])])
    label = label[speech]
    first = label.copy()
    min_frames = max(1, int(round(config.min_duration * sample_rate / hop)))
    width = max(1, int(round(config.gmm_smooth * sample_rate / hop)))
    pool = max(1, int(round(config.frame_step * sample_rate / hop)))
    # Speaker models are local: regions starting in one block of `gmm_block` seconds are
    # decoded with models trained on the speech of that block and half a block either side
    # (a voice's frames from other rooms or sessions of a long recording would blur them).
    starts = np.asarray([a for a, _ in spans], dtype=np.int64)
    block = int(round(config.gmm_block * sample_rate / hop)) if config.gmm_block > 0 else 0
    block_of = starts // block if block else np.zeros(len(spans), dtype=np.int64)
    total = len(frames) * hop / sample_rate  # seconds of audio, for progress reports
    blocks = np.unique(block_of)
    for round_index in range(config.gmm_rounds):
        new = label.copy()
        for block_index, b in enumerate(blocks):
            members = np.flatnonzero(block_of == b)
            if block:
                lo = np.searchsorted(speech, b * block - block // 2, side="left")
                hi = np.searchsorted(speech, (b + 1) * block + block // 2, side="left")
            else:
                lo, hi = 0, len(speech)
            d0, d1 = offsets[members[0]], offsets[members[-1] + 1]
            models = _fit_speaker_models(
                feats[lo:hi], label[lo:hi], k, config, seed, max_train_frames
            )
            modelled = np.zeros(k, dtype=bool)
            modelled[list(models)] = True
            loglik = np.zeros((d1 - d0, k))
            for spk, model in models.items():
                loglik[:, spk] = model.score_samples(feats[d0:d1])
            for r in members:
                o0, o1 = offsets[r], offsets[r + 1]
                if o1 <= o0:
                    continue
                present = np.unique(label[o0:o1])
                usable = np.flatnonzero(candidates[r] & modelled)
                if len(usable) < 2 or not modelled[present[present >= 0]].all():
                    continue
                # Decided on a grid of `pool` frames (the frame step of the first pass).
                scores = moving_average(loglik[o0 - d0 : o1 - d0, usable], width)[::pool]
                path = viterbi(scores, config.gmm_penalty * pool)
                path = _absorb_short(path, scores, -(-min_frames // pool))
                new[o0:o1] = np.repeat(usable[path], pool)[: o1 - o0]
            done = (round_index + (block_index + 1) / len(blocks)) / config.gmm_rounds
            report("resegmentation", done * total, total)
        label = new
    if keep_all:
        for spk in set(np.unique(first).tolist()) - set(np.unique(label).tolist()) - {-1}:
            label[first == spk] = spk
    out: list[tuple[int, int, int]] = []
    for (start, end), (a, b), o0 in zip(regions, spans, offsets[:-1], strict=True):
        for s, e, spk in _runs(label[o0 : o0 + b - a]):
            if spk < 0:
                continue
            seg_start = int(start) if s == 0 else (a + s) * hop
            seg_end = int(end) if a + e == b else (a + e) * hop
            if seg_end > seg_start:
                out.append((seg_start, seg_end, spk))
    return sorted(out)


#: Gaussian components of the background and of the speech model of :func:`remove_background`
BACKGROUND_COMPONENTS, SPEECH_COMPONENTS = 8, 16


def _dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """``mask`` grown by ``width`` frames on both sides: where the centred window of
    ``2 * width + 1`` frames holds any of it."""
    window = 2 * max(width, 0) + 1
    return moving_average(mask[:, None].astype(np.float64), window)[:, 0] > 0


def remove_background(
    segments: list[tuple[int, int, int]],
    frames: np.ndarray,
    hop: int,
    config: ResegmentConfig,
    keep_all: bool = False,
    seed: int = 0,
    sample_rate: int = 16000,
    max_train_frames: int = 5000,
) -> list[tuple[int, int, int]]:
    """Take out of ``segments`` the frames that sound like the recording's own background.

    A diagonal Gaussian mixture is fitted on the frames at least ``config.background_away``
    seconds from every segment (the background: noise, music, babble between the turns) and
    another on the frames of the segments (the speech); features are standardised over the
    whole recording. Where the background-minus-speech log-likelihood ratio, averaged over
    ``config.background_smooth`` seconds, is above ``config.background_margin`` for at least
    ``config.background_min_run`` seconds inside a segment, those frames are cut, and pieces
    of a segment shorter than that are dropped. Nothing changes when the recording has less
    than ``config.background_seconds`` of background, too little speech for a model, or when
    the two models tell their own frames apart by less than ``config.background_separation``
    (the mean ratio on the background frames minus that on the speech frames). The models
    are local: frames in one block of ``config.background_block`` seconds are judged by models
    fitted on that block and half a block either side, each block with its own guards (a
    long recording's rooms and noises would blur one pair of models for all of it; 0 = one
    pair for the recording). With ``keep_all``, a speaker who would lose every segment keeps
    them all.

    Parameters
    ----------
    segments : (start_sample, end_sample, speaker), sorted, not overlapping
    frames : (num_frames, dim) features of the whole recording; frame ``t`` describes
        samples ``[t * hop, (t + 1) * hop)``

    Returns
    -------
    segments : list of (start_sample, end_sample, speaker_index), sorted, non-overlapping
    """
    if not config.background or not segments or len(frames) == 0:
        return segments
    n = len(frames)
    per_second = sample_rate / hop
    speech = np.zeros(n, dtype=bool)
    for start, end, _ in segments:
        speech[start // hop : -(-end // hop)] = True
    background = ~_dilate(speech, int(round(config.background_away * per_second)))
    block = max(0, int(round(config.background_block * per_second))) or n  # 0: one block
    feats = frames.astype(np.float32)
    feats -= feats.mean(axis=0)
    feats /= np.maximum(feats.std(axis=0), 1e-6)
    width = max(1, int(round(config.background_smooth * per_second)))
    llr = np.full(n, -np.inf)  # frames of a block that cannot be judged are never cut
    for b0 in range(0, n, block):
        lo, hi = max(0, b0 - block // 2), min(n, b0 + block + block // 2)
        bg, sp = background[lo:hi], speech[lo:hi]
        if bg.sum() < config.background_seconds * per_second or sp.sum() < MIN_MODEL_FRAMES:
            continue
        # EM to convergence here (DiagonalGMM's default): two models per block, not dozens
        models = [
            _fit_mixture(feats[lo:hi], np.flatnonzero(mask), k, max_train_frames, seed, 100)
            for mask, k in ((bg, BACKGROUND_COMPONENTS), (sp, SPEECH_COMPONENTS))
        ]
        ratio = models[0].score_samples(feats[lo:hi]) - models[1].score_samples(feats[lo:hi])
        if ratio[bg].mean() - ratio[sp].mean() < config.background_separation:
            continue  # the background sounds too much like the speech to tell them apart
        ratio = moving_average(ratio[:, None], width)[:, 0]
        llr[b0 : b0 + block] = ratio[b0 - lo : b0 - lo + block]
    if not np.isfinite(llr).any():
        return segments
    min_run = max(1, int(round(config.background_min_run * per_second)))
    cut = np.zeros(n, dtype=bool)
    for s, e, value in _runs((speech & (llr > config.background_margin)).astype(np.int64)):
        if value and e - s >= min_run:
            cut[s:e] = True
    out: list[tuple[int, int, int]] = []
    for start, end, spk in segments:
        a, b = start // hop, -(-end // hop)
        if not cut[a:b].any():
            out.append((start, end, spk))
            continue
        for s, e, value in _runs(cut[a:b].astype(np.int64)):
            piece = (max(start, (a + s) * hop), min(end, (a + e) * hop), spk)
            if not value and e - s >= min_run and piece[1] > piece[0]:
                out.append(piece)
    if keep_all:
        lost = {spk for _, _, spk in segments} - {spk for _, _, spk in out}
        out += [seg for seg in segments if seg[2] in lost]
    return sorted(out)
