"""The diarization pipeline: audio -> speech regions -> window embeddings -> clusters ->
frame-level resegmentation -> turns."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarize import audio as audio_io
from diarize.backend import PLDA, model_plda
from diarize.cluster import (
    COUNT_METHODS,
    DEFAULT_COSINE_THRESHOLD,
    VBX_STARTS,
    Similarity,
    cluster,
    concrete_count,
    cosine_similarity,
    join_nearest,
)
from diarize.config import ClusterConfig, PipelineConfig, load_config, update_config
from diarize.embed import detect_regions, embed_chunked, windows
from diarize.encoder import EmbeddingModel, load_encoder
from diarize.errors import AudioError, ConfigError, DiarizeError, require
from diarize.features import Mfcc
from diarize.progress import StageBars, reporting
from diarize.resegment import (
    candidate_speakers,
    refine_gmm,
    remove_background,
    resegment,
    to_turns,
)
from diarize.rttm import check_writable, write_atomic
from diarize.types import Diarization

logger = logging.getLogger(__name__)


class Pipeline:
    """Build once, call on many recordings.

    >>> pipeline = Pipeline()                       # shipped encoder, default config
    >>> result = pipeline("meeting.wav", num_speakers=None)
    >>> print(result.to_rttm())
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        encoder: EmbeddingModel | None = None,
        model: str | Path | None = None,
    ):
        self.config = config or PipelineConfig()
        if self.config.adapt.enabled:  # fail here, not on every file
            require("torch", "--adapt (fine-tuning the encoder on the recording)")
        self.encoder = encoder if encoder is not None else load_encoder(model)
        self.timings: dict[str, float] = {}
        self._plda: PLDA | None = None
        self._plda_narrowband: PLDA | None = None
        self._decide_timings: dict[str, float] = {}
        self.mfcc = Mfcc(sample_rate=self.encoder.sample_rate)

    @property
    def sample_rate(self) -> int:
        return self.encoder.sample_rate

    def plda(self, narrowband: bool = False) -> PLDA:
        """The model's PLDA back end (ConfigError when it has none); with ``narrowband``, its
        telephone-band PLDA (``extra["narrowband_plda"]``) when it has one."""
        if narrowband:
            extra = getattr(self.encoder, "extra", None) or {}
            if "narrowband_plda" in extra:
                if self._plda_narrowband is None:
                    self._plda_narrowband = PLDA.from_dict(extra["narrowband_plda"])
                return self._plda_narrowband
        if self._plda is None:
            self._plda = model_plda(self.encoder)
            if self._plda is None:
                raise ConfigError(
                    "this model has no PLDA back end (needed by --scoring plda and --count "
                    "vbx); fit one with 'diarize fit-backend', or use --scoring cosine and "
                    "another --count"
                )
        return self._plda

    def resolve_count(self, config: PipelineConfig) -> PipelineConfig:
        """``config`` with count "auto" made concrete: "vbx" when the model has a PLDA back
        end, else "threshold"."""
        if config.cluster.count != "auto":
            return config
        extra = getattr(self.encoder, "extra", {}) or {}
        return dataclasses.replace(config, cluster=concrete_count(config.cluster, "plda" in extra))

    def resolve_scoring(self, config: PipelineConfig) -> str:
        """``config.cluster.scoring`` with "auto" made concrete: "plda" when the speaker count
        is given and the model has a PLDA back end, else "cosine"."""
        scoring = config.cluster.scoring
        if scoring != "auto":
            return scoring
        extra = getattr(self.encoder, "extra", {}) or {}
        return "plda" if config.cluster.num_speakers is not None and "plda" in extra else "cosine"

    def count_config(
        self, config: PipelineConfig, narrowband: bool, threshold: float | None = None
    ) -> ClusterConfig:
        """The clustering settings a recording is counted with: count "auto" made concrete,
        and for telephone-band input (``narrowband``) the threshold and VBx rules replaced by
        ``narrowband_count`` unless a stopping threshold is given (in ``config`` or as
        ``threshold``), and VBx's ``vbx_fb`` by ``narrowband_vbx_fb`` when that is set."""
        cc = self.resolve_count(config).cluster
        learned = cc.count == "threshold" or (cc.count == "vbx" and cc.vbx_start == "threshold")
        if (
            narrowband
            and cc.narrowband_count
            and learned
            and cc.threshold is None
            and threshold is None
        ):
            # Through a telephone band every similarity rises (two voices can score 0.85) and
            # a learned threshold merges them; a threshold set by the recording itself holds.
            # VBx started from the scaled rule already starts from such a threshold.
            cc = dataclasses.replace(cc, count=cc.narrowband_count)
        if narrowband and cc.count == "vbx" and cc.narrowband_vbx_fb is not None:
            cc = dataclasses.replace(cc, vbx_fb=cc.narrowband_vbx_fb)
        return cc

    def scorer(self, config: PipelineConfig, narrowband: bool = False) -> tuple[Similarity, float]:
        """The similarity AHC uses and its stopping threshold (explicit, else the model's;
        for ``narrowband`` audio the model's narrowband threshold when it has one)."""
        config = self.resolve_count(config)
        extra = getattr(self.encoder, "extra", {}) or {}
        scoring = self.resolve_scoring(config)
        if scoring == "cosine":
            similarity: Similarity = cosine_similarity
            default = float(extra.get("cosine_threshold", DEFAULT_COSINE_THRESHOLD))
            if narrowband and "cosine_threshold_narrowband" in extra:
                default = float(extra["cosine_threshold_narrowband"])
        elif scoring == "plda":
            # telephone-band input: the telephone-band PLDA where no threshold is read (the
            # count is given); the learned PLDA threshold belongs to the wideband one
            telephone = narrowband and config.cluster.num_speakers is not None
            similarity = self.plda(telephone and config.cluster.narrowband_plda).score_matrix
            default = float(extra.get("plda_threshold", 0.0))
        else:
            raise ConfigError(f"unknown scoring {scoring!r}; choose auto, cosine or plda")
        if config.cluster.count not in COUNT_METHODS:
            raise ConfigError(
                f"unknown speaker count method {config.cluster.count!r}; "
                f"choose {' or '.join(('auto', *COUNT_METHODS))}"
            )
        if config.cluster.narrowband_count not in ("", *COUNT_METHODS):
            raise ConfigError(
                f"unknown narrowband speaker count method {config.cluster.narrowband_count!r}; "
                f'choose {" or ".join(COUNT_METHODS)} (or "" for none)'
            )
        if "vbx" in (config.cluster.count, config.cluster.narrowband_count):
            if config.cluster.vbx_start not in VBX_STARTS:
                raise ConfigError(
                    f"unknown vbx_start {config.cluster.vbx_start!r}; "
                    f"choose {' or '.join(VBX_STARTS)}"
                )
            self.plda()  # fail before any work when the model has none
        threshold = config.cluster.threshold
        return similarity, default if threshold is None else threshold

    def _resolve(
        self,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
    ) -> PipelineConfig:
        config = self.config
        if num_speakers is not None or min_speakers is not None or max_speakers is not None:
            config = update_config(
                config,
                {
                    "cluster": {
                        "num_speakers": num_speakers,
                        "min_speakers": min_speakers,
                        "max_speakers": max_speakers,
                    }
                },
            )
        cc = config.cluster
        if cc.min_speakers is not None and cc.max_speakers is not None:
            if cc.min_speakers > cc.max_speakers:
                raise ConfigError(
                    f"--min-speakers {cc.min_speakers} is larger than "
                    f"--max-speakers {cc.max_speakers}"
                )
        n = cc.num_speakers
        if n is not None and not (cc.min_speakers or n) <= n <= (cc.max_speakers or n):
            raise ConfigError(
                f"--num-speakers {n} is outside --min-speakers {cc.min_speakers} / "
                f"--max-speakers {cc.max_speakers}"
            )
        return config

    def __call__(
        self,
        audio: str | Path | np.ndarray,
        uri: str | None = None,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> Diarization:
        """Diarize a file path or a (num_samples,) waveform at ``self.sample_rate``: float in
        about [-1, 1], or int16 PCM (full scale 32768). The caller's array is not modified."""
        config = self._resolve(num_speakers, min_speakers, max_speakers)
        self.scorer(config)  # fail before any work on a bad choice
        analysis = self.analyse(audio, uri, config)
        result = self.decide(analysis, config)
        self.timings = dict(analysis.timings)
        self.timings.update(self._decide_timings)
        return result

    def analyse(
        self, audio: str | Path | np.ndarray, uri: str | None = None, config=None
    ) -> Analysis:
        """The front half: load, speech regions, window embeddings (what clustering needs)."""
        config = config or self.config
        timings: dict[str, float] = {}
        tic = time.perf_counter()
        if isinstance(audio, (str, Path)):
            path = Path(audio)
            uri = uri if uri is not None else path.stem
            # 16-bit PCM: half the memory of float32 for multi-hour files; every stage
            # below converts only the chunk it works on.
            waveform = audio_io.load(path, self.sample_rate, dtype="int16")
            name = str(path)
        else:
            waveform = np.asarray(audio)
            if waveform.dtype != np.int16:  # 16-bit PCM is read as such, like a file
                waveform = np.asarray(waveform, dtype=np.float32)
            if waveform.ndim != 1:
                raise AudioError(f"expected a mono (num_samples,) waveform, got {waveform.shape}")
            uri = uri if uri is not None else "audio"
            name = uri
        # Telephone-band audio stored above the telephone rate: the speech detector may hear
        # it through that rate (below, where the resampler that made the file was sharp).
        rate = config.vad.narrowband_rate
        through = False
        if rate:
            stored = audio_io.native_rate(path) if isinstance(audio, (str, Path)) else None
            through = (stored or self.sample_rate) > rate and audio_io.is_narrowband(
                waveform, np.array([[0, len(waveform)]]), self.sample_rate
            )
        # A file read here is ours to scale; an array the caller passed in is not.
        waveform, gain_db = audio_io.raise_quiet(waveform, in_place=isinstance(audio, (str, Path)))
        if gain_db:
            logger.info("%s: quiet recording raised by %.1f dB", name, gain_db)
        timings["load"] = time.perf_counter() - tic
        sr = self.sample_rate
        duration = len(waveform) / sr
        shortest = config.embed.min_window
        if duration < shortest:
            raise AudioError(
                f"{name}: {duration:.2f} s of audio is shorter than the shortest window "
                f"({shortest:.2f} s)"
            )
        tic = time.perf_counter()
        heard = audio_io.heard_through(waveform, rate, sr) if through else waveform
        if heard is not waveform:
            logger.info(
                "%s: telephone-band audio stored above %d Hz by a sharp resampler; the speech "
                "detector hears it through %d Hz",
                name,
                rate,
                rate,
            )
        regions, window_regions = detect_regions(heard, config.vad, config.embed, sr)
        del heard
        timings["vad"] = time.perf_counter() - tic
        bounds = np.zeros((0, 2), dtype=np.int64)
        embeddings = np.zeros((0, self.encoder.dim), dtype=np.float32)
        narrowband = audio_io.is_narrowband(waveform, regions, sr)
        if narrowband:
            logger.info("%s: telephone-band audio (nothing above 4 kHz)", name)
        if len(regions) == 0:
            logger.warning("%s: no speech detected; the result is empty", name)
        else:
            encoder = self.encoder
            if narrowband and config.embed.narrowband_statistics and not config.adapt.enabled:
                encoder = self.encoder.narrowband() or encoder
            if config.adapt.enabled:
                from diarize.adapt import adapt_encoder, seed_torch

                seed_torch(config.seed)
                tic = time.perf_counter()
                encoder = adapt_encoder(
                    encoder,
                    audio_io.as_float32(waveform),
                    window_regions,
                    config.adapt.steps,
                    config.seed,
                )
                timings["adapt"] = time.perf_counter() - tic
            tic = time.perf_counter()
            bounds = windows(window_regions, config.embed, sr)
            embeddings = embed_chunked(waveform, bounds, encoder, config.embed, sr)
            timings["embed"] = time.perf_counter() - tic
        overlap = None
        if len(regions) and config.overlap.enabled:
            from diarize.overlap import OverlapDetector, overlap_probability

            tic = time.perf_counter()
            detector = OverlapDetector.load(config.overlap.model)
            overlap = overlap_probability(waveform, regions, detector, sr).astype(np.float16)
            timings["overlap"] = time.perf_counter() - tic
        frames = None
        rs = config.resegment
        if len(regions) and rs.enabled and (rs.gmm_rounds > 0 or rs.background):
            tic = time.perf_counter()
            # Short-term features for the second resegmentation pass and the background
            # carving, kept as float16 (a 4-hour recording: 58 MB); without the carving only
            # the speech frames are used, and computed.
            frames = self.mfcc.frames(
                waveform, dtype=np.float16, regions=None if rs.background else regions
            )
            timings["frames"] = time.perf_counter() - tic
        return Analysis(
            uri,
            name,
            duration,
            len(waveform),
            regions,
            bounds,
            embeddings,
            timings,
            frames,
            narrowband,
            overlap,
        )

    def decide(
        self, analysis: Analysis, config=None, threshold: float | None = None
    ) -> Diarization:
        """The back half: cluster the windows, resegment, name the speakers.

        ``threshold`` overrides the stopping threshold (calibration re-clusters one analysis
        at many thresholds).
        """
        config = self.resolve_count(config or self.config)
        sr = self.sample_rate
        self._decide_timings = {}
        if len(analysis.regions) == 0:
            return Diarization(uri=analysis.uri, turns=(), duration=analysis.duration)
        similarity, default = self.scorer(config, analysis.narrowband)
        cluster_config = self.count_config(config, analysis.narrowband, threshold)
        tic = time.perf_counter()
        clean = clean_windows(analysis, config.cluster.overlap_exclude)
        every = bool(clean.all())  # then no copy of the embeddings for the mask
        centres = analysis.bounds.mean(axis=1) / sr if len(analysis.bounds) else None
        labels = cluster(
            analysis.embeddings if every else analysis.embeddings[clean],
            cluster_config,
            default if threshold is None else threshold,
            similarity,
            centres=centres if every or centres is None else centres[clean],
            min_gap=config.embed.window,
            plda=(
                self.plda(analysis.narrowband and config.cluster.narrowband_plda)
                if cluster_config.count == "vbx"
                else None
            ),
        )
        if not every and len(labels):
            labels = join_nearest(analysis.embeddings, clean, labels)
        self._decide_timings["cluster"] = time.perf_counter() - tic
        tic = time.perf_counter()
        keep_all = config.cluster.num_speakers is not None or (
            config.cluster.min_speakers is not None
        )
        candidates = None
        if len(labels):
            # The speakers allowed in each region: one set for both resegmentation passes.
            candidates = candidate_speakers(
                analysis.bounds,
                labels,
                analysis.regions,
                int(labels.max()) + 1,
                config.resegment,
                sr,
            )
        segments = resegment(
            analysis.bounds,
            analysis.embeddings,
            labels,
            analysis.regions,
            analysis.num_samples,
            config.resegment,
            sr,
            keep_all,
            candidates=candidates,
        )
        if (
            config.resegment.enabled
            and config.resegment.gmm_rounds > 0
            and analysis.frames is not None
            and candidates is not None
        ):
            segments = refine_gmm(
                segments,
                analysis.frames,
                self.mfcc.hop_samples,
                analysis.regions,
                candidates,
                config.resegment,
                keep_all,
                config.seed,
                sr,
            )
        if config.resegment.enabled and analysis.frames is not None:
            segments = remove_background(
                segments,
                analysis.frames,
                self.mfcc.hop_samples,
                config.resegment,
                keep_all,
                config.seed,
                sr,
            )
        if config.overlap.enabled and analysis.overlap is not None and segments:
            from diarize.overlap import overlap_regions, second_speakers

            found_overlaps = overlap_regions(
                analysis.overlap, config.overlap, segments=segments, sample_rate=sr
            )
            segments = list(segments) + second_speakers(
                segments, found_overlaps, int(round(config.overlap.max_distance * sr))
            )
        turns = to_turns(segments, sr, config.resegment.min_pause)
        self._decide_timings["resegment"] = time.perf_counter() - tic
        wanted = config.cluster.num_speakers or config.cluster.min_speakers
        found = len({t.speaker for t in turns})
        if wanted is not None and found < wanted:
            logger.warning(
                "%s: %d speakers asked for, %d found: too little speech to split further",
                analysis.name,
                wanted,
                found,
            )
        logger.info(
            "%s: %.1f s, %d regions, %d windows, %d speakers",
            analysis.name,
            analysis.duration,
            len(analysis.regions),
            len(analysis.bounds),
            len({t.speaker for t in turns}),
        )
        return Diarization(uri=analysis.uri, turns=turns, duration=analysis.duration)


@dataclass(frozen=True)
class Analysis:
    """What the front half of the pipeline finds in one recording."""

    uri: str
    name: str
    duration: float  # seconds
    num_samples: int
    regions: np.ndarray  # (num_regions, 2) int64 speech [start, end) samples
    bounds: np.ndarray  # (num_windows, 2) int64 window [start, end) samples
    embeddings: np.ndarray  # (num_windows, dim) float32, L2-normed
    timings: dict[str, float]
    # (num_frames, 20) float16 MFCCs every 10 ms (None when no speech): the features of
    # the second resegmentation pass and of the background carving (every frame computed
    # when the carving is on, else the speech frames only)
    frames: np.ndarray | None = None
    # speech with (almost) nothing above 4 kHz: telephone audio (diarize.audio.is_narrowband)
    narrowband: bool = False
    # (num_frames,) float16 overlap probability every 10 ms (diarize.overlap), when enabled
    overlap: np.ndarray | None = None


def diarize(
    audio: str | Path | np.ndarray,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    config: PipelineConfig | None = None,
    model: str | Path | None = None,
    seed: int | None = None,
) -> Diarization:
    """Diarize one recording with the shipped encoder (or ``model``).

    >>> from diarize import diarize
    >>> d = diarize("meeting.wav")
    >>> for turn in d.turns: print(turn.start, turn.end, turn.speaker)
    """
    config = config or PipelineConfig()
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    return Pipeline(config, model=model)(
        audio, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
    )


@dataclass(frozen=True)
class RunOptions:
    """What ``diarize run`` was asked to do (None = not given on the command line)."""

    output: Path | None = None
    output_is_dir: bool = False  # -o was written with a trailing separator
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    config_path: Path | None = None
    model: Path | None = None
    scoring: str | None = None
    threshold: float | None = None
    count: str | None = None
    resegment: bool | None = None
    overlap: bool | None = None
    adapt: bool = False
    seed: int | None = None
    as_json: bool = False
    reference: Path | None = None
    progress: bool = True

    def build_config(self) -> PipelineConfig:
        config = load_config(self.config_path)
        count = self.count
        if count is None and self.threshold is not None:
            count = "threshold"  # a stopping threshold given: the rule that stops there
        return update_config(
            config,
            {
                "cluster": {
                    "num_speakers": self.num_speakers,
                    "min_speakers": self.min_speakers,
                    "max_speakers": self.max_speakers,
                    "scoring": self.scoring,
                    "threshold": self.threshold,
                    "count": count,
                    # an explicit --count applies to telephone-band input too (vbx started
                    # from a learned threshold still switches: config.narrowband_count)
                    "narrowband_count": "" if self.count not in (None, "vbx", "auto") else None,
                },
                "resegment": {"enabled": self.resegment},
                "overlap": {"enabled": self.overlap},
                "adapt": {"enabled": True if self.adapt else None},
                "seed": self.seed,
            },
        )


def _output_path(output: Path, source: Path, as_dir: bool, suffix: str) -> Path:
    """-o names a folder when ``as_dir`` (it was written with a trailing separator, or
    several inputs are given; then it is created) or it exists as one; otherwise it is the
    output file itself."""
    if as_dir or output.is_dir():
        return output / f"{source.stem}{suffix}"
    return output


def _identity(path: Path) -> tuple:
    """What makes two paths one file: (device, inode) when it exists (hard links and
    symbolic links included), else its resolved path."""
    try:
        st = path.stat()
        return (st.st_dev, st.st_ino)
    except OSError:
        return (path.resolve(),)


def plan_outputs(paths: list[Path], options: RunOptions) -> list[Path | None]:
    """Where each input's result goes (None = stdout), checked before any work: several
    inputs need a folder, two inputs may not write the same file, no output may overwrite
    an input, and every output must be writable (its folder exists or can be made)."""
    output = options.output
    if output is None:
        return [None] * len(paths)
    if len(paths) > 1 and output.is_file():
        raise ConfigError(f"-o {output} is a file but {len(paths)} inputs were given")
    suffix = ".json" if options.as_json else ".rttm"
    as_dir = options.output_is_dir or len(paths) > 1
    targets = [_output_path(output, path, as_dir, suffix) for path in paths]
    inputs = {_identity(path): path for path in paths}
    seen: dict[tuple, Path] = {}
    for path, target in zip(paths, targets, strict=True):
        key = _identity(target)
        if key in inputs:
            raise ConfigError(f"-o {target} would overwrite the input {inputs[key]}")
        if key in seen:
            raise ConfigError(
                f"{seen[key]} and {path} would both be written to {target}; "
                "rename one or diarize them separately"
            )
        seen[key] = path
    for target in dict.fromkeys(targets):
        try:
            check_writable(target)
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    return targets


def run_files(
    paths: list[Path], options: RunOptions, echo: Callable[[str], None] = print
) -> list[tuple[Path, str]]:
    """Diarize ``paths`` as ``diarize run`` does: outputs, per-file errors, optional DER.

    A file that fails is reported (``echo`` with ``err=True``) and skipped; its output is not
    written. Returns the list of (path, error message) failures. Several results on stdout
    are JSON Lines with ``as_json`` (one object per line).
    """
    config = options.build_config()
    targets = plan_outputs(paths, options)
    pipeline = Pipeline(config, model=options.model)
    references = None
    if options.reference is not None:
        require("pyannote.metrics", "--ref (DER against a reference)")
        from diarize.scoring import read_rttm_source

        references = read_rttm_source(options.reference)
    failures: list[tuple[Path, str]] = []
    for path, target in zip(paths, targets, strict=True):
        # Bars on the long stages of a long recording (on a terminal only), gone before
        # the result is printed.
        bars = StageBars(path.name) if options.progress else None
        try:
            with reporting(bars), bars or contextlib.nullcontext():
                result = pipeline(path)
            if options.as_json:
                text = result.to_json(indent=2 if target is not None or len(paths) == 1 else None)
            else:
                text = result.to_rttm()
            if target is None:
                echo(text, nl=False)
            else:
                try:
                    write_atomic(target, text)
                except OSError as exc:
                    raise DiarizeError(f"cannot write {target}: {exc.strerror or exc}") from None
                logger.info("wrote %s", target)
        except DiarizeError as exc:
            message = str(exc)
            echo(f"Error: {message}", err=True)
            failures.append((path, message))
            continue
        if references is not None:
            from diarize.scoring import der_report

            echo(der_report(references, result), err=True)
    return failures


def clean_windows(analysis: Analysis, limit: float) -> np.ndarray:
    """(num_windows,) bool: the windows whose mean overlap probability is at most ``limit``
    ([cluster] overlap_exclude); every window when ``limit`` >= 1, when no overlap
    probability was computed, or when fewer than half the windows would be left."""
    keep = np.ones(len(analysis.embeddings), dtype=bool)
    if limit >= 1 or analysis.overlap is None or not len(keep):
        return keep
    from diarize.overlap import window_probability

    clean = window_probability(analysis.overlap, analysis.bounds) <= limit
    return clean if 2 * int(clean.sum()) >= len(clean) else keep
