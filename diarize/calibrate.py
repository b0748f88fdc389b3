"""Fit the label-free scoring back end of an encoder and store it in its checkpoint.

1. Embed 1.5 s windows of the speech in every training recording.
2. Cluster each recording on its own; large clusters become pseudo-speakers.
3. Fit PLDA on the pseudo-speakers (``diarize.backend.fit_plda``).
4. Pick, for cosine and for PLDA scoring, the AHC stopping threshold: by default the one
   that mis-clusters the fewest windows of synthetic mixtures of pseudo-speakers; with
   simulated conversations of the recordings (``conversations``), by the whole pipeline's
   DER on them: from the best threshold, the lowest one within ``der_tolerance`` of its
   DER (:func:`lowest_near_best`), and a second cosine threshold for telephone-band audio
   from the same conversations passed through 8 kHz.
5. With those conversations, also the DER of the ``scaled`` count rule (a threshold each
   recording sets from its own nearest-neighbour similarity) at each candidate scale, as
   recorded and through 8 kHz, and the scale with the lowest DER over both: stored in the
   calibration record only. The pipeline keeps ``[cluster] scale`` (2.4): a scale learned
   on these clean conversations did not carry over to other domains
   (``benchmarks/reports/encoder/V2-CROSSDOMAIN.md``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diarize.errors import require

require("torch", "diarize fit-backend")

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from diarize import audio as audio_io  # noqa: E402
from diarize.backend import (  # noqa: E402
    estimate_threshold,
    fit_plda,
    pseudo_speakers,
    synthetic_mixtures,
)
from diarize.cluster import cosine_similarity  # noqa: E402
from diarize.config import EmbedConfig, VADConfig  # noqa: E402
from diarize.embed import extract  # noqa: E402
from diarize.encoder import load_encoder  # noqa: E402
from diarize.errors import AudioError, DiarizeError  # noqa: E402
from diarize.nn import Encoder, save_encoder, torch_encoder  # noqa: E402
from diarize.vad import detect_speech  # noqa: E402

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationConfig:
    window: float = 1.5  # seconds per embedded window
    step: float = 0.75  # seconds between windows
    pseudo_threshold: float = 0.6  # cosine; conservative, so pseudo-speakers stay pure
    min_windows: int = 4  # smallest cluster kept as a pseudo-speaker
    plda_rank: int = 128  # PLDA dimensions kept (largest between/within ratio)
    num_mixtures: int = 300
    max_speakers: int = 6
    seed: int = 0
    vad: VADConfig = field(default_factory=VADConfig)  # speech detection, as in the pipeline
    # Thresholds tried on simulated conversations of pseudo-speakers (when given).
    cosine_candidates: tuple[float, ...] = tuple(round(0.1 + 0.05 * i, 2) for i in range(13))
    # From the best threshold on those conversations, step down (towards more merging) while
    # the DER stays within this much of the best: near its minimum the curve is flat (the
    # 18 min of conversations of fit_backend.sh put 0.55 and 0.65 0.2 points apart), and the
    # conversations are cleaner than real recordings, where the windows of one voice are less
    # alike, so the low end of the flat stretch is the safer choice.
    der_tolerance: float = 0.005
    # Scales of the scaled count rule tried on the same conversations (when given), for the
    # calibration record.
    scale_candidates: tuple[float, ...] = tuple(round(1.6 + 0.2 * i, 1) for i in range(11))


def list_audio(sources: Iterable[str | Path]) -> list[Path]:
    """Audio files under folders (recursively), listed in text files, or given directly."""
    out: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            out.extend(
                p for p in sorted(path.rglob("*")) if p.suffix.lower() in audio_io.AUDIO_SUFFIXES
            )
        elif path.suffix.lower() in (".lst", ".txt"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = Path(line.strip())
                    out.append(item if item.is_absolute() else path.parent / item)
        elif path.exists():
            out.append(path)
        else:
            raise DiarizeError(f"{path}: no such file or folder")
    return out


def embed_recordings(
    encoder: Encoder,
    paths: list[Path],
    config: CalibrationConfig,
    progress: bool = False,
    channel: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[np.ndarray]:
    """(num_windows, dim) embeddings of each recording's speech windows; ``channel``, when
    given, is applied to each recording's audio first (e.g. a telephone channel)."""
    embed_config = EmbedConfig(window=config.window, step=config.step, min_window=config.window)
    out = []
    for path in tqdm(paths, desc="embedding", disable=not progress, unit="file"):
        try:
            waveform = audio_io.load(path, encoder.sample_rate)
            if channel is not None:
                waveform = channel(waveform)
        except AudioError as exc:
            logger.warning("skipping %s", exc)
            continue
        regions = detect_speech(waveform, config.vad, encoder.sample_rate)
        _, emb = extract(waveform, regions, encoder, embed_config, encoder.sample_rate)
        out.append(emb)
    return out


def conversation_der(
    encoder: Encoder,
    conversations: str | Path,
    scoring: str,
    candidates: np.ndarray,
    progress: bool = False,
    vad: VADConfig | None = None,
    narrowband: bool = False,
    count: str = "threshold",
) -> np.ndarray:
    """Corpus DER (collar 0, overlap scored) of the default pipeline at each stopping
    threshold, on simulated conversations (``diarize simulate`` layout: wav/ and rttm/).
    With ``narrowband``, each conversation is first passed through 8 kHz (telephone band).
    With ``count="scaled"``, the candidates are scales of the scaled count rule instead.

    The conversations are built from training recordings, each taken as its own
    pseudo-speaker (the same assumption the encoder's negatives make), so no speaker label
    is involved. Each recording is analysed once and re-clustered at every threshold.
    """
    from diarize.config import PipelineConfig, update_config
    from diarize.pipeline import Pipeline
    from diarize.rttm import read_rttm
    from diarize.scoring import der_components

    root = Path(conversations)
    wavs = sorted((root / "wav").glob("*.wav"))
    if not wavs:
        raise DiarizeError(f"{root}: no wav/*.wav conversations (see 'diarize simulate')")
    if count not in ("threshold", "scaled"):
        raise ValueError(f"count must be 'threshold' or 'scaled', got {count!r}")
    config = update_config(
        PipelineConfig(), {"cluster": {"scoring": scoring, "count": count, "narrowband_count": ""}}
    )
    if vad is not None:
        config = dataclasses.replace(config, vad=vad)
    pipeline = Pipeline(config, encoder=encoder)
    errors = np.zeros(len(candidates))
    total = 0.0
    what = "scales" if count == "scaled" else f"{scoring} thresholds"
    desc = what + (" (8 kHz)" if narrowband else "")
    for wav in tqdm(wavs, desc=desc, disable=not progress, unit="file"):
        reference = next(iter(read_rttm(root / "rttm" / f"{wav.stem}.rttm").values()))
        source: Path | np.ndarray = wav
        if narrowband:
            sr = pipeline.sample_rate
            source = audio_io.telephone_band(audio_io.load(wav, sr), sr)
        analysis = pipeline.analyse(source, uri=reference.uri)
        for i, value in enumerate(candidates):
            if count == "scaled":
                scaled = dataclasses.replace(
                    config, cluster=dataclasses.replace(config.cluster, scale=float(value))
                )
                hypothesis = pipeline.decide(analysis, scaled)
            else:
                hypothesis = pipeline.decide(analysis, threshold=float(value))
            c = der_components(reference, hypothesis)
            errors[i] += c["missed"] + c["false_alarm"] + c["confusion"]
            if i == 0:
                total += c["total"]
    return errors / max(total, 1e-9)


def lowest_near_best(candidates: np.ndarray, errors: np.ndarray, tolerance: float) -> int:
    """From the candidate with the smallest error, step to lower candidates while their error
    stays within ``tolerance`` of that smallest one; return the index of the last one
    reached. ``candidates`` must be ascending."""
    candidates = np.asarray(candidates, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if len(candidates) != len(errors) or not len(errors):
        raise ValueError("candidates and errors must be non-empty and of the same length")
    if np.any(np.diff(candidates) <= 0):
        raise ValueError("candidates must be strictly ascending")
    best = int(np.argmin(errors))
    i = best
    while i > 0 and errors[i - 1] <= errors[best] + tolerance:
        i -= 1
    return i


def fit_backend(
    model: str | Path | None,
    sources: list[str | Path],
    out: str | Path,
    config: CalibrationConfig = CalibrationConfig(),
    progress: bool = False,
    conversations: str | Path | None = None,
) -> dict:
    """Fit PLDA and thresholds for ``model`` on unlabeled ``sources``; write ``out``.

    Thresholds come from synthetic mixtures of pseudo-speaker embeddings, or, when
    ``conversations`` (simulated conversations of pseudo-speakers) is given, from the DER
    of the whole pipeline on them: the lowest threshold within ``config.der_tolerance`` of
    the best DER (plus a narrowband cosine threshold from the conversations through 8 kHz).

    Returns a summary (counts, thresholds, error rates) that is also stored in the
    checkpoint under ``extra["calibration"]``.
    """
    torch.manual_seed(config.seed)
    # An ONNX export (the shipped default) is calibrated through the checkpoint it came from.
    encoder = torch_encoder(load_encoder(model))
    paths = list_audio(sources)
    if not paths:
        raise DiarizeError("no audio files found in the given sources")
    per_recording = embed_recordings(encoder, paths, config, progress)
    emb, labels = pseudo_speakers(per_recording, config.pseudo_threshold, config.min_windows)
    if len(np.unique(labels)) < 2:
        raise DiarizeError("fewer than two pseudo-speakers found; give more recordings")
    plda = fit_plda(emb, labels, rank=config.plda_rank)
    rng = np.random.default_rng(config.seed)
    mixtures = synthetic_mixtures(emb, labels, config.num_mixtures, rng, config.max_speakers)
    cos_candidates = np.round(np.arange(-0.2, 0.951, 0.025), 3)
    cos_threshold, cos_errors = estimate_threshold(mixtures, cosine_similarity, cos_candidates)
    sample = np.concatenate([m[0] for m in mixtures[:50]])
    scores = plda.score_matrix(sample[:: max(1, len(sample) // 1500)])
    plda_candidates = np.round(np.linspace(*np.percentile(scores, [2, 98]), 61), 3)
    plda_threshold, plda_errors = estimate_threshold(mixtures, plda.score_matrix, plda_candidates)
    summary = {
        "recordings": len(per_recording),
        "windows": int(sum(len(e) for e in per_recording)),
        "pseudo_speakers": int(len(np.unique(labels))),
        "pseudo_windows": int(len(labels)),
        "mixtures": len(mixtures),
        "cosine_threshold": cos_threshold,
        "cosine_error": float(cos_errors.min()),
        "plda_threshold": plda_threshold,
        "plda_error": float(plda_errors.min()),
        "config": dataclasses.asdict(config),
    }
    extra = dict(encoder.extra)
    extra.update(plda=plda.to_dict())
    if conversations is not None:
        calibrated = Encoder(encoder.model, encoder.feature_config, encoder.meta, extra)
        # The same conversations as recorded and through 8 kHz (telephone band).
        cos_der, narrow_der = (
            conversation_der(
                calibrated,
                conversations,
                "cosine",
                np.asarray(config.cosine_candidates),
                progress,
                config.vad,
                narrowband=narrowband,
            )
            for narrowband in (False, True)
        )
        plda_der = conversation_der(
            calibrated, conversations, "plda", plda_candidates, progress, config.vad
        )
        tol = config.der_tolerance
        cos_candidates = np.asarray(config.cosine_candidates)
        i_cos = lowest_near_best(cos_candidates, cos_der, tol)
        i_plda = lowest_near_best(plda_candidates, plda_der, tol)
        i_narrow = lowest_near_best(cos_candidates, narrow_der, tol)
        cos_threshold = float(cos_candidates[i_cos])
        plda_threshold = float(plda_candidates[i_plda])
        narrow_threshold = float(cos_candidates[i_narrow])
        scales = np.asarray(config.scale_candidates)
        scale_der = [
            conversation_der(
                calibrated,
                conversations,
                "cosine",
                scales,
                progress,
                config.vad,
                narrowband=narrowband,
                count="scaled",
            )
            for narrowband in (False, True)
        ]
        pooled = 0.5 * (scale_der[0] + scale_der[1])
        i_scale = int(np.argmin(pooled))
        extra.update(cosine_threshold_narrowband=narrow_threshold)
        summary.update(
            threshold_source="simulated conversations of pseudo-speakers",
            conversations=str(conversations),
            cosine_threshold=cos_threshold,
            plda_threshold=plda_threshold,
            cosine_der=float(cos_der[i_cos]),
            plda_der=float(plda_der[i_plda]),
            cosine_der_curve=[round(float(x), 4) for x in cos_der],
            cosine_threshold_narrowband=narrow_threshold,
            cosine_der_narrowband=float(narrow_der[i_narrow]),
            cosine_der_curve_narrowband=[round(float(x), 4) for x in narrow_der],
            cosine_candidates=list(config.cosine_candidates),
            count_scale=float(scales[i_scale]),
            count_scale_der=float(pooled[i_scale]),
            count_scale_der_curve=[round(float(x), 4) for x in scale_der[0]],
            count_scale_der_curve_narrowband=[round(float(x), 4) for x in scale_der[1]],
            scale_candidates=list(config.scale_candidates),
        )
    else:
        summary["threshold_source"] = "embedding mixtures of pseudo-speakers"
    logger.info("calibration: %s", summary)
    extra.update(
        cosine_threshold=cos_threshold,
        plda_threshold=plda_threshold,
        calibration=summary,
    )
    meta = {k: v for k, v in encoder.meta.items() if k != "path"}
    save_encoder(out, encoder.model, encoder.feature_config, meta, extra)
    return summary
