"""Hyper-parameters: frozen dataclasses, the single source of truth (units in the names/docs).

Precedence: dataclass defaults < ``--config file.toml`` < explicit CLI flags.
A TOML file has one table per stage, e.g.::

    [embed]
    window = 1.5
    step = 0.25

    [cluster]
    scoring = "plda"
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diarize.errors import ConfigError, read_text


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel filterbank front end."""

    sample_rate: int = 16000
    num_mel_bins: int = 64
    frame_length: float = 0.025  # seconds
    frame_shift: float = 0.010  # seconds
    # Seconds of centred sliding mean normalisation; 0 = off. Off by default: a window-local
    # mean cannot be shared across overlapping windows (see Encoder.embed_windows), and it
    # also removes each speaker's long-term spectrum, which carries voice identity.
    # Robustness to gain and channel comes from augmentation instead.
    cmn_window: float = 0.0


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of the segment encoder (stored in every checkpoint)."""

    channels: int = 256
    kernel_size: int = 5
    dilations: tuple[int, ...] = (2, 3, 4)
    pool_channels: int = 512
    embed_dim: int = 192


@dataclass(frozen=True)
class VADConfig:
    """Speech activity detection."""

    method: str = "silero"  # "silero", "spectral", "energy" or "webrtc" (see diarize.vad)
    threshold: float = 0.3  # speech probability above which a speech run starts
    hysteresis: float = 0.15  # a run ends below threshold - hysteresis
    min_speech: float = 0.25  # seconds; shorter speech runs are dropped
    min_silence: float = 0.25  # seconds; shorter pauses are bridged
    # seconds added on both sides of each region, then gated by pad_floor_db (below). 0.3 s
    # with the 2-dB gate (was: 0.2 s, no gate) is lower on every domain of the cross-domain
    # benchmark over five draws (mean 35.71 -> 35.04 %) and over five others
    # (benchmarks/reports/DRAWS-PAD-FLOOR.md, DRAWS-PAD-FLOOR-CHECK.md); without the gate,
    # 0.25 and 0.3 s lower dev/ami alone and raise the telephone set (DRAWS-PAD*.md)
    pad: float = 0.3
    # Decibels added to the signal the Silero detector hears, after quiet recordings are
    # raised (other detectors adapt to the level themselves). Silero misses speech in loud
    # noise at the level a file is stored at; 3 dB louder won every domain of the
    # cross-domain benchmark (mean DER 43.1 -> 41.0 %, benchmarks/reports/VAD-GAIN.md).
    input_gain_db: float = 3.0
    # Hz; > 0: the Silero detector also hears the input low-passed at this frequency, and
    # each frame may keep the larger of the two probabilities (0 = one listen). Hiss and
    # babble above it can hide speech from the detector; the low-passed copy no longer holds
    # them. It runs the detector twice.
    lowpass_hz: float = 6000.0
    # Decibels; the low-passed listen counts only in the 32-ms frames whose level above
    # lowpass_hz is within this of the recording's quietest 10 % there: where that band holds
    # nothing but the recording's steady background, and not where a knock or a rustle
    # reaches up into it (judged by the full-band listen alone). 0 = in every frame.
    # 6000 Hz gated at 3 dB (was: one listen) is lower on every domain over ten draws of the
    # cross-domain benchmark (mean 36.34 -> 35.89 %) and over five fresh ones (38.74 ->
    # 37.97; benchmarks/reports/DRAWS-LOWPASS-GATE*.md). In every frame it lowers the
    # simulated domains as much but raises dev/ami 36.6 -> 37.7 % (a meeting's knocks called
    # speech); gated at 6 or 10 dB, 37.0 and 37.2.
    lowpass_gate_db: float = 3.0
    # Decibels above the recording's own floor (diarize.vad.level_floor_mask) that a stretch
    # of the output must reach to stay speech: frames whose level, averaged over 0.3 s, is
    # within floor_db of the level the quietest floor_quantile of the recording stays under
    # are taken out of the regions after padding, whatever the detector said (noise it calls
    # speech sits at the floor); nothing is cut in a recording without a steady background
    # (talk without pauses: its 5 % quantile more than 6 dB above its 0.5 %). 0 = off.
    # 1.5 dB over the 0.5 % quantile (was: no gate) is lower on every domain averaged over
    # seven draws of the cross-domain benchmark, mean 38.45 -> 37.57 %
    # (benchmarks/reports/DRAWS-FLOOR.md). Over the 5 % quantile it cuts more noise (mean
    # 36.17 %) but also a quiet talker in one dev/ami meeting (dev/ami 37.1 -> 37.5 %,
    # DRAWS-FLOOR-QUANTILE.md): better for calls and close microphones than for far ones.
    floor_db: float = 1.5
    floor_quantile: float = 0.005
    # Decibels above the same floor (0 = off): the padding keeps only the frames whose level,
    # averaged over 50 ms, is more than this above it (diarize.vad.padding_floor_mask), so
    # it covers soft onsets and word ends and not the silence of the pauses around them.
    # 3 dB does as well on the five draws (35.10 %); 2 dB with the 0.2-s padding raises
    # dev/ami by 0.3 (mean 35.29 %)
    pad_floor_db: float = 2.0
    # Seconds per block of a long recording: its frames are held against the floor of that
    # block and half a block either side, as the background carving's blocks
    # ([resegment] background_block); 0 (default) = one floor for the recording. On a 37-min
    # concatenation of 15 conversations at different levels, blocks of 150 s cut more false
    # alarm (14.8 -> 14.2 %) but DER rose 32.8 -> 33.0 (benchmarks/reports/LONG.md).
    floor_block: float = 0.0
    # Hz (0 = off): the speech detector hears telephone-band input (nothing above 4 kHz over
    # the whole recording) stored at a higher rate through this rate (resampled to it and
    # back, diarize.audio.through_rate), as it hears a file stored at this rate once read,
    # when a sharp resampler made the file: when the round trip adds the images of its top
    # band that such a file then holds (diarize.audio.IMAGE_GAIN_DB). The five draws of the
    # crossdomain telephone domain (38.97 % stored at 8 kHz), written at 16 kHz by scipy's
    # resample_poly, score 44.06 heard as stored and 39.07 through 8 kHz; by FFmpeg's
    # resampler 42.98 and 37.83 (lower at every draw; missed speech 23 -> 15 %;
    # benchmarks/reports/TELEPHONE-16K.md). Files this package's resampler made hold the
    # images already and are heard as they are: heard through 8 kHz a second time, one voice
    # in rooms lost 29.9 -> 33.3 % (SINGLE-SPEAKER.md, its last two sections).
    narrowband_rate: int = 8000
    # Seconds of audio analysed at once (bounds memory): the detector runs on pieces this
    # long, each with 5 s of context either side; regions near a cut can differ slightly
    # from one pass over the whole recording.
    chunk: float = 300.0


@dataclass(frozen=True)
class EmbedConfig:
    """Sliding-window embedding extraction."""

    # Seconds. Windows of 1.25, 2 or 2.5 s, or one every 0.5 s, each raise the cross-domain
    # mean DER, the telephone-band set most (benchmarks/reports/CROSSDOMAIN-windows.md).
    window: float = 1.5
    step: float = 0.25
    min_window: float = 0.4  # seconds; speech regions shorter than this get no window of their own
    # Seconds added around each detected speech run before windows are cut; None = the
    # [vad] pad, as the output's regions. 0 (default) keeps windows on the speech, so fewer
    # windows mix a voice with the silence or the next talker around it: dev/ami DER 36.8 %
    # against 39.6 % with the 0.2 s padding, simulated set 37.2 against 37.1 %
    # (benchmarks/reports/RESULTS.md, "Other configurations").
    pad: float | None = 0.0
    # Telephone-band input (diarize.audio.is_narrowband) is embedded with the model's
    # batch-norm statistics of telephone-band speech when it carries them
    # (benchmarks/encoder/narrowband_bn.py; the shipped model does)
    narrowband_statistics: bool = True
    batch_size: int = 64  # windows per encoder batch (slow path)
    chunk: float = 120.0  # seconds of audio per front-end/trunk chunk


@dataclass(frozen=True)
class ClusterConfig:
    """Agglomerative clustering of window embeddings."""

    # "cosine", "plda", or "auto" (the default): PLDA scores when the count is given
    # (num_speakers) and the model has a PLDA back end, cosine otherwise
    scoring: str = "auto"
    threshold: float | None = None  # None = the value shipped with the model
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    # Above this many windows (8,000 = about 33 min of speech), AHC runs on an evenly spaced
    # subset of this size and the other windows are assigned; exact AHC on 8,000 windows
    # holds about 0.5 GB of pairwise distances.
    max_exact: int = 8000
    # Clusters holding fewer than this share of the windows are not counted as speakers;
    # their windows join the closest larger cluster (outlier windows: overlap, noise).
    min_cluster_fraction: float = 0.03
    # Windows whose mean overlap probability (diarize.overlap, when [overlap] is enabled) is
    # above this are left out of the clustering and then join the nearest cluster, so that
    # two voices at once do not blur the speakers' clusters; 1 = off. Nothing is left out
    # when it would leave fewer than half of the windows.
    overlap_exclude: float = 1.0
    # The threshold rule's speaker count is the median of the counts at thresholds within
    # +- this much of the stopping threshold (in the similarity's units: cosine; with PLDA
    # scores, whose scale is far larger, 0.05 is next to no spread). 0 = the threshold alone.
    count_spread: float = 0.05
    center: bool = False  # subtract the recording's mean embedding before scoring
    # How the speaker count is chosen when it is not given: "threshold" (AHC stops at the
    # stopping threshold) or "eigengap" (largest eigengap of a pruned k-NN affinity graph,
    # pruning level chosen per recording; no threshold involved; AHC then cut at that count)
    # or "nme-sc" (the same count, labels by spectral clustering) or "scaled" (a threshold set
    # by each recording: scale x its nearest-neighbour distance). All honour the bounds.
    # or "vbx" (below) or "auto" (the default: vbx when the model carries a PLDA back end,
    # as the shipped one does, else threshold).
    count: str = "auto"
    max_speakers_estimated: int = 8  # eigengap, nme-sc: the largest count they may return
    # nme-sc: spectral clustering (its own labels, not AHC's) on at most this many evenly
    # spaced windows; the others are assigned to the nearest speaker
    max_spectral: int = 800
    seed: int = 0  # nme-sc: k-means initialisation
    # scaled: AHC stops at cosine distance scale x (1 - the mean similarity of each window to
    # its neighbour_share most similar windows), a threshold set by each recording itself
    scale: float = 2.4
    neighbour_share: float = 0.05
    # Telephone-band input (diarize.audio.is_narrowband) is counted by this rule instead
    # when the count rule stops at the learned threshold ("threshold", or "vbx" with
    # vbx_start = "threshold") and no threshold is given ("" = no switch)
    narrowband_count: str = "scaled"
    # vbx (the default): Bayesian HMM clustering with the model's PLDA (diarize.vbx),
    # started from AHC stopped at vbx_init above the scaled rule's threshold (vbx_start =
    # "scaled"; with PLDA scoring, above the PLDA threshold) or above the stopping threshold
    # (vbx_start = "threshold"), in the similarity's units (> 0 = more clusters to start
    # from). vbx_fa scales the windows' log-likelihoods, vbx_fb the speaker prior (larger =
    # fewer speakers); vbx_loop is the probability that the next window (one step later)
    # has the same speaker. Chosen for encoder-v5 on the tuning set of
    # benchmarks.crossdomain (benchmarks/reports/VBX.md), except vbx_fb: 6 instead of that
    # set's 5 since 2026-12-05, lower on every multi-speaker domain over ten draws and fewer
    # one-voice recordings split (DRAWS-VBX-FB.md, SINGLE-SPEAKER.md); 7 splits fewer still
    # but loses test-other by 3.1 points and gives one speaker for 2 of its 8 files on the
    # benchmark's own draw.
    vbx_start: str = "scaled"
    vbx_init: float = 0.1
    vbx_fa: float = 0.5
    vbx_fb: float = 6.0
    vbx_loop: float = 0.9
    # the lowest similarity VBx's starting AHC stops at (None = no floor): on a noisy
    # recording the scaled rule's threshold can fall so low that AHC starts VBx from one
    # cluster, which VBx cannot split
    vbx_start_floor: float | None = None
    # the fewest clusters VBx starts from (the AHC tree cut there when the starting threshold
    # leaves fewer; 1 = whatever that threshold gives). On a short recording the scaled rule
    # often starts VBx from one or two clusters, which it can merge but not split: 3 lowers
    # 30-s excerpts of the simulated conversations on every domain and dev/ami by 1.3, and
    # leaves whole conversations as they were (DRAWS-MIN-START*.md); it splits 7 more of 159
    # 30-s excerpts of one voice in rooms and noise (SINGLE-SPEAKER.md).
    vbx_min_start: int = 3
    # share (0-1) of the recording's own mean embedding removed before VBx's PLDA
    # projection (0 = the back end's global mean only). What every window of a recording
    # shares (room, microphone) moves them all one way, and after length normalisation the
    # voices' differences shrink; removing the recording's mean undoes that
    vbx_recentre: float = 0.0
    # vbx_fb for telephone-band input (None = vbx_fb). Through a telephone band the windows
    # of different voices lie closer and VBx merges them; a smaller vbx_fb weighs the
    # speaker prior less against the windows' evidence, so more speakers stay. 4: the best
    # of Fa 0.6-1.0 / Fb 3-4 on the tuning set through the telephone channel
    # (benchmarks/reports/DRAWS-VBX-TELEPHONE.md); only telephone-band input changes. With
    # the defaults of 2026-12-06, 3 ties it over ten draws and loses the telephone-band
    # tuning files (DRAWS-NARROWBAND-FB-CHECK.md).
    narrowband_vbx_fb: float | None = 4.0
    # true: telephone-band input is scored by the model's telephone-band PLDA (extra
    # ["narrowband_plda"]: the back end's steps repeated on its recordings passed through a
    # telephone channel, benchmarks/encoder/narrowband_plda.py; the shipped model has one)
    # in VBx and when the count is given (a model without one: the wideband PLDA). Off:
    # over ten draws VBx gains on telephone conversations (42.2 -> 41.5 %), but the tuning
    # set through the telephone channel, the benchmark's own draw and the true count over
    # seven draws lose (benchmarks/reports/NARROWBAND-PLDA.md)
    narrowband_plda: bool = False


@dataclass(frozen=True)
class ResegmentConfig:
    """Frame-level Viterbi resegmentation."""

    enabled: bool = True
    frame_step: float = 0.02  # seconds per resegmentation frame
    switch_penalty: float = 8.0  # log-domain cost of a speaker change
    min_duration: float = 0.2  # seconds; shortest turn kept
    # Seconds: a pause between two turns of the same speaker shorter than this is bridged in
    # the output (whoever else talks in it); 0 = turns only touching or overlapping are
    # joined. 0.2 (was 0): over five draws of the cross-domain benchmark lower on every domain
    # (mean 34.72 -> 34.53 %, dev/ami 34.4 -> 34.2), over five fresh draws lower or level
    # (34.74 -> 34.65); on their 30-s excerpts 40.81 -> 40.77 with the simulated 16 and 8 kHz
    # sets 0.1 higher (benchmarks/reports/DRAWS-MIN-PAUSE*.md). 0.3 takes dev/ami to 33.8 but
    # raises the non-native set. One voice in rooms: no more splits, DER +0.1 to +0.3
    # (benchmarks/reports/SINGLE-SPEAKER-MIN-PAUSE.md).
    min_pause: float = 0.2
    temperature: float = 0.1  # scales similarities into log-likelihoods
    # Seconds around each speech region within which a speaker must own a window to be a
    # candidate there (the speakers of one part of a long recording are not those of
    # another); 0 = every speaker everywhere.
    local_horizon: float = 60.0
    # ... and must own at least this share of the windows there.
    local_min_share: float = 0.03
    # Second pass on 10 ms MFCC frames (0 rounds = off): a diagonal Gaussian mixture of up to
    # gmm_components per speaker is fitted on the frames the first pass gave that speaker,
    # the frames' log-likelihoods are averaged over gmm_smooth seconds, and a Viterbi pass
    # (gmm_penalty per change of speaker) relabels every speech frame; gmm_rounds rounds.
    # Sharper turn boundaries than 1.5 s windows allow: simulated set DER 37.2 % against
    # 39.8 % without it; dev/ami unchanged at 36.8 % (benchmarks/reports/RESULTS.md, no-gmm-pass).
    gmm_rounds: int = 2
    gmm_components: int = 8
    gmm_smooth: float = 0.2
    # 10 (was 30): lower on every domain averaged over seven draws of the cross-domain
    # benchmark, mean 38.45 % against 38.87 (benchmarks/reports/DRAWS-GMM.md)
    gmm_penalty: float = 10.0
    # Seconds per block of a long recording: its regions are decoded with speaker models
    # trained on that block and half a block either side (0 = one set for the recording).
    gmm_block: float = 150.0
    # Background carving (diarize.resegment.remove_background): speech frames of the output
    # that sound more like the recording's own background than like its speech are taken
    # out (pauses inside turns, padding, noise the detector called speech). A diagonal
    # Gaussian mixture fitted on the MFCC frames at least background_away seconds from any
    # speech (when there are background_seconds of them) is set against one fitted on the
    # speech frames; where their log-likelihood ratio, averaged over background_smooth
    # seconds, is above background_margin for background_min_run seconds or more, the
    # frames are cut (pieces of a turn shorter than that are dropped too). Nothing is cut
    # when the two models tell their own frames apart by less than background_separation
    # (mean ratio on the background frames minus that on the speech frames). Settings
    # chosen on the tuning set (benchmarks/reports/BACKGROUND.md).
    background: bool = True
    # Seconds per block of a long recording: its frames are judged by models fitted on that
    # block and half a block either side, as the speaker models of the pass above (gmm_block);
    # 0 = one pair of models for the recording. Recordings shorter than a block get one pair.
    background_block: float = 150.0
    background_away: float = 0.3
    background_seconds: float = 3.0
    background_smooth: float = 0.2
    background_margin: float = 0.0
    background_min_run: float = 0.1
    background_separation: float = 8.0


@dataclass(frozen=True)
class OverlapConfig:
    """A second speaker where the overlap detector hears two (diarize.overlap)."""

    enabled: bool = True
    model: str = ""  # ONNX detector; "" = models/overlap-v2.onnx
    # overlap probability, after smoothing (the best F1 on the tuning set of
    # benchmarks/reports/OVERLAP.md)
    threshold: float = 0.6
    smooth: float = 0.1  # seconds of moving average over the frame probabilities
    min_duration: float = 0.1  # seconds; shorter overlaps are dropped
    # The second speaker is the nearest other speaker in time, if within this many seconds
    max_distance: float = 5.0
    # Overlap is kept only within this many seconds of a change of speaker (the middle of
    # the pause between turns of two speakers; 0: anywhere). Conversations overlap where the
    # turn passes; most of what the detector calls elsewhere is one talker in babble or
    # reverberation. 0.4: the tuning set's DER is flat from 0.3 to 0.5 (benchmarks/reports/
    # DRAWS-OVERLAP.md), and over seven draws every domain gains.
    turn_window: float = 0.4
    # Smoothed probability above which overlap counts anywhere, near a change of speaker or
    # not (with turn_window > 0); 1 = never: only near changes.
    anywhere_threshold: float = 1.0


@dataclass(frozen=True)
class AdaptConfig:
    """Self-supervised fine-tuning of the encoder on the recording itself."""

    enabled: bool = False
    steps: int = 30  # optimisation steps on the input recording


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs besides the encoder (whose front end is in its checkpoint)."""

    vad: VADConfig = field(default_factory=VADConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    resegment: ResegmentConfig = field(default_factory=ResegmentConfig)
    overlap: OverlapConfig = field(default_factory=OverlapConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """Serialise to TOML (the format ``--config`` reads)."""
        lines: list[str] = []
        top = {k: v for k, v in self.to_dict().items() if not isinstance(v, dict)}
        for key, value in top.items():
            lines.append(f"{key} = {_toml_value(value)}")
        for section, values in self.to_dict().items():
            if not isinstance(values, dict):
                continue
            lines.append(f"\n[{section}]")
            for key, value in values.items():
                if value is None:
                    lines.append(f"# {key} = (unset)")
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


_SECTIONS = {
    "vad": VADConfig,
    "embed": EmbedConfig,
    "cluster": ClusterConfig,
    "resegment": ResegmentConfig,
    "overlap": OverlapConfig,
    "adapt": AdaptConfig,
}


#: Numbers that must be > 0 (lengths, steps, sizes, counts); every other number of a section
#: must be >= 0, except those in _SIGNED (a PLDA threshold is a log-likelihood ratio).
_POSITIVE = {
    ("vad", "chunk"),
    ("embed", "window"),
    ("embed", "step"),
    ("embed", "min_window"),
    ("embed", "batch_size"),
    ("embed", "chunk"),
    ("cluster", "num_speakers"),
    ("cluster", "min_speakers"),
    ("cluster", "max_speakers"),
    ("cluster", "max_exact"),
    ("cluster", "max_speakers_estimated"),
    ("cluster", "vbx_min_start"),
    ("resegment", "frame_step"),
    ("resegment", "temperature"),
    ("resegment", "gmm_components"),
    ("cluster", "vbx_fa"),
    ("cluster", "vbx_fb"),
    ("cluster", "narrowband_vbx_fb"),
}
_SIGNED = {
    ("cluster", "threshold"),
    ("cluster", "vbx_init"),
    ("cluster", "vbx_start_floor"),
    ("vad", "input_gain_db"),
}
#: Probabilities that must stay below 1.
_BELOW_ONE = {("cluster", "vbx_loop"), ("vad", "floor_quantile")}
#: Shares that may reach 1 but not pass it.
_AT_MOST_ONE = {
    ("cluster", "vbx_recentre"),
    ("cluster", "overlap_exclude"),
    ("overlap", "anywhere_threshold"),
}
#: Frequencies that must stay below half the speech detector's 16 kHz rate.
_BELOW_NYQUIST = {("vad", "lowpass_hz")}


def _field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """The types each field accepts, from its annotation (None stripped from optionals)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name, hint in hints.items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        out[name] = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    return out


def _check_number(section: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    where = f"[{section}] {key}"
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if (section, key) in _POSITIVE and value <= 0:
        raise ConfigError(f"{where} must be > 0, got {value!r}")
    if (section, key) not in _SIGNED and value < 0:
        raise ConfigError(f"{where} must be >= 0, got {value!r}")
    if (section, key) in _BELOW_ONE and value >= 1:
        raise ConfigError(f"{where} must be below 1, got {value!r}")
    if (section, key) in _AT_MOST_ONE and value > 1:
        raise ConfigError(f"{where} must be at most 1, got {value!r}")
    if (section, key) in _BELOW_NYQUIST and value >= 8000:
        raise ConfigError(f"{where} must be below 8000 Hz, got {value!r}")


def _coerce(cls: type, section: str, values: dict[str, Any]) -> Any:
    known = _field_types(cls)
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(
            f"unknown option(s) in [{section}]: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    out = {}
    for key, value in values.items():
        accepted = known[key]
        if tuple in accepted and isinstance(value, list):
            value = tuple(value)
        if float in accepted and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is not None:
            wrong_bool = isinstance(value, bool) and bool not in accepted
            if wrong_bool or not isinstance(value, accepted):
                names = " or ".join(t.__name__ for t in accepted)
                raise ConfigError(f"[{section}] {key} must be {names}, got {value!r}")
            _check_number(section, key, value)
        out[key] = value
    return out


def update_config(config: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Return ``config`` with nested ``overrides`` applied ({section: {key: value}} or top-level).

    ``None`` values in a section mean "not given" and leave the current value unchanged.
    """
    changes: dict[str, Any] = {}
    for section, values in overrides.items():
        if section in _SECTIONS:
            if not isinstance(values, dict):
                raise ConfigError(f"[{section}] must be a table")
            values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            current = getattr(config, section)
            changes[section] = dataclasses.replace(
                current, **_coerce(type(current), section, values)
            )
        elif section == "seed":
            if values is not None:
                if not isinstance(values, int) or isinstance(values, bool):
                    raise ConfigError(f"seed must be an integer, got {values!r}")
                changes["seed"] = values
        else:
            raise ConfigError(
                f"unknown section or key {section!r}; known: seed, {', '.join(_SECTIONS)}"
            )
    return dataclasses.replace(config, **changes)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file; an unreadable or invalid file raises ``ConfigError``."""
    try:
        return tomllib.loads(read_text(path, ConfigError))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(path: str | Path | None, base: PipelineConfig | None = None) -> PipelineConfig:
    """Read a TOML file on top of ``base`` (defaults when None)."""
    config = base or PipelineConfig()
    if path is None:
        return config
    return update_config(config, read_toml(path))
