"""Training loop of the segment encoder: self-supervised (NT-Xent or Barlow Twins on disjoint
nearby windows), optional pseudo-label rounds (AAM softmax on confident clusters of the encoder's
own embeddings), and a supervised reference mode (speaker ids from file names; never shipped).

Two files are written: ``out`` (the encoder checkpoint, the format :func:`load_encoder` reads)
and ``state`` (everything needed to resume: model, projector, optimiser, sampler and generator
states, queue, step, pseudo-labels, elapsed time). Both load with ``weights_only=True``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diarize.config import EncoderConfig, FeatureConfig, read_toml
from diarize.encoder import Encoder, SegmentEncoder, save_encoder
from diarize.errors import ConfigError, DiarizeError
from diarize.features import Fbank
from diarize.train import data as data_mod
from diarize.train.augment import AugmentConfig, Augmenter, augment_features
from diarize.train.loss import AAMSoftmax, Queue, barlow_twins, nt_xent

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ``diarize train`` (seconds, steps and minutes in the names)."""

    data: tuple[str, ...] = ()
    out: str = "models/encoder.pt"
    state: str = ""  # resumable training state; "" = next to ``out`` (NAME.state.pt)
    noise: tuple[str, ...] = ()  # folders of real noise recordings
    rir: tuple[str, ...] = ()  # folders of real room impulse responses
    eval_data: str = ""  # <speaker>/<utterance> audio (or a pack) for the validation EER
    # objective
    loss: str = "ntxent"  # "ntxent" or "barlow"
    temperature: float = 0.1
    queue_size: int = 0  # earlier embeddings kept as extra negatives (0 = off)
    # each view's this many most similar negatives left out of its softmax (0 = off): the
    # likeliest to be the same voice in another recording
    drop_nearest: int = 0
    projector_dim: int = 0  # MLP projector before the loss (0 = loss on the embedding)
    barlow_off_diagonal: float = 5e-3
    # pairs
    batch_size: int = 128
    window_seconds: float = 1.5  # shortest window
    window_max_seconds: float = 0.0  # > window_seconds: a length drawn per step in between
    max_gap_seconds: float = 0.5
    min_speech_fraction: float = 0.5
    speech_floor_db: float = 30.0
    # "recordings": draws weighted by each recording's speech; "sources": every data source
    # (corpus folder or list) an equal share of the draws, whatever its size
    balance: str = "recordings"
    # with balance = "sources": each source's share of the draws, in the order of ``data``
    # (() = equal shares)
    source_weights: tuple[float, ...] = ()
    # an encoder checkpoint (.pt) whose weights start the run (fine-tuning); "" = random start
    init: str = ""
    # optimisation
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    num_steps: int = 2000  # cosine schedule length
    max_minutes: float = 0.0  # stop after this much training time (0 = no limit)
    checkpoint_minutes: float = 5.0
    validate_steps: int = 250  # 0 = no validation EER
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    # pseudo-labels (0 rounds = off)
    pseudo_rounds: int = 0
    pseudo_start_step: int = 1000
    pseudo_every_steps: int = 500
    pseudo_window_seconds: float = 1.5
    pseudo_min_cluster: int = 5
    pseudo_keep_fraction: float = 0.8  # members closest to their centroid kept per cluster
    pseudo_batch_size: int = 128
    pseudo_weight: float = 1.0
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    # reference only: speaker ids from file names (margin softmax); never shipped
    supervised: bool = False
    # inference statistics: batch norm re-estimated on clean speech windows before every save
    # and validation (0 = keep the running averages of the augmented training batches)
    bn_batches: int = 8
    # with balance = "sources": each source's share of those clean windows, in the order of
    # ``data`` (() = every recording weighted by its speech, so the largest source dominates)
    bn_source_weights: tuple[float, ...] = ()
    # label-free linear back end from positive pairs, folded into the last layer at the end
    pair_lda: bool = False
    pair_lda_dim: int = 0  # 0 = embed_dim
    pair_lda_pairs: int = 4000
    # architecture
    channels: int = 256
    dilations: tuple[int, ...] = (2, 3, 4)
    kernel_size: int = 5
    pool_channels: int = 512
    embed_dim: int = 192
    num_mel_bins: int = 64
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def state_path(self) -> Path:
        if self.state:
            return Path(self.state)
        out = Path(self.out)
        return out.with_name(out.stem + ".state.pt")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        if not self.data:
            raise ConfigError("no training data given")
        if self.loss not in ("ntxent", "barlow"):
            raise ConfigError(f"loss must be 'ntxent' or 'barlow', got {self.loss!r}")
        if self.balance not in ("recordings", "sources"):
            raise ConfigError(f"balance must be 'recordings' or 'sources', got {self.balance!r}")
        for name in ("source_weights", "bn_source_weights"):
            weights = getattr(self, name)
            if not weights:
                continue
            if self.balance != "sources":
                raise ConfigError(f"{name} needs balance = 'sources'")
            if len(weights) != len(self.data):
                raise ConfigError(
                    f"{name} has {len(weights)} value(s) for {len(self.data)} data source(s)"
                )
            if min(weights) < 0 or sum(weights) <= 0:
                raise ConfigError(f"{name} must be >= 0 with a positive sum")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2")
        if self.window_seconds < 0.1:
            raise ConfigError("window_seconds must be at least 0.1")
        if self.num_steps < 1:
            raise ConfigError("num_steps must be at least 1")
        self.augment.check()


def _reject_unknown(values: dict[str, Any], cls: type, what: str) -> None:
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {what} option(s): {', '.join(sorted(unknown))}")


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig from ``to_dict`` output (lists become tuples)."""
    values = dict(values)
    aug = values.pop("augment", {}) or {}
    _reject_unknown(values, TrainConfig, "training")
    for key, value in list(values.items()):
        if isinstance(value, list):
            values[key] = tuple(value)
    aug = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
    _reject_unknown(aug, AugmentConfig, "augmentation")
    return TrainConfig(**values, augment=AugmentConfig(**aug))


def load_train_config(
    path: str | Path | None, overrides: dict[str, Any], base: TrainConfig | None = None
) -> TrainConfig:
    """Defaults < TOML file (a ``[train]`` table, augmentation in ``[train.augment]``) <
    ``overrides`` (None values mean "not given")."""
    values = (base or TrainConfig()).to_dict()
    if path is not None:
        table = read_toml(path).get("train", {})
        aug = table.pop("augment", {})
        values.update(table)
        values["augment"] = {**values["augment"], **aug}
    for key, value in overrides.items():
        if value is None:
            continue
        if key.startswith("augment."):
            values["augment"][key.split(".", 1)[1]] = value
        else:
            values[key] = value
    return config_from_dict(values)


class TrainError(DiarizeError):
    """Training cannot start or resume."""


def speaker_of(name: str) -> str:
    """Speaker id in a LibriSpeech (``spk-chapter-utt``) or Speech Commands (``spk_word_n``)
    file name: the supervised reference's labels (evaluation-style use only)."""
    stem = Path(name).stem
    return re.split(r"[-_]", stem)[0]


def learning_rate_at(config, step: int) -> float:
    """Linear warm-up over ``warmup_steps``, then a cosine decay to 5 % of ``learning_rate``
    at ``num_steps`` (any config with those three fields)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    t = min((step - config.warmup_steps) / max(config.num_steps - config.warmup_steps, 1), 1.0)
    return config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


class Projector(nn.Module):
    def __init__(self, dim_in: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim_in, dim), nn.BatchNorm1d(dim), nn.ReLU(), nn.Linear(dim, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_banks(folders: tuple[str, ...]) -> list[np.ndarray]:
    if not folders:
        return []
    return [w for _, w in data_mod.read_sources(list(folders))]


class Trainer:
    """Holds everything of one training run; :meth:`run` trains until done or out of time."""

    def __init__(self, config: TrainConfig, progress: bool = False):
        config.check()
        self.config = config
        self.progress = progress
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        self.feature_config = FeatureConfig(num_mel_bins=config.num_mel_bins)
        self.encoder_config = EncoderConfig(
            channels=config.channels,
            kernel_size=config.kernel_size,
            dilations=tuple(config.dilations),
            pool_channels=config.pool_channels,
            embed_dim=config.embed_dim,
        )
        groups = None  # the source of every recording (balance = "sources")
        if config.balance == "sources":
            self.recordings, groups = data_mod.load_grouped_recordings(
                list(config.data), config.speech_floor_db
            )
        else:
            self.recordings = data_mod.load_recordings(list(config.data), config.speech_floor_db)
        logger.info(
            "training audio: %d recordings, %.1f min (%.1f min of speech frames)",
            len(self.recordings),
            sum(r.num_samples for r in self.recordings) / 16000 / 60,
            sum(int(r.speech.sum()) for r in self.recordings) * 0.01 / 60,
        )
        self.sampler = data_mod.PairSampler(
            self.recordings,
            config.max_gap_seconds,
            config.min_speech_fraction,
            config.seed,
            groups=groups,
            group_weights=config.source_weights or None,
        )
        self.groups = groups
        self.model = SegmentEncoder(self.encoder_config, config.num_mel_bins).to(self.device)
        if config.init:
            self._load_init(config.init)
        self.fbank = Fbank(self.feature_config).to(self.device)
        dim = config.embed_dim
        self.projector = (
            Projector(dim, config.projector_dim).to(self.device)
            if (config.projector_dim > 0)
            else None
        )
        loss_dim = config.projector_dim or dim
        self.queue = Queue(config.queue_size, loss_dim, self.device)
        self.labels_of_recording: np.ndarray | None = None
        self.head: AAMSoftmax | None = None
        if config.supervised:
            names = sorted({speaker_of(r.name) for r in self.recordings})
            index = {n: i for i, n in enumerate(names)}
            self.labels_of_recording = np.array(
                [index[speaker_of(r.name)] for r in self.recordings]
            )
            self.head = AAMSoftmax(dim, len(names), config.aam_margin, config.aam_scale).to(
                self.device
            )
            logger.info("supervised reference: %d speaker classes from file names", len(names))
        # Pseudo-labelled pool: (recording, start sample, label) of kept windows.
        self.pseudo: dict[str, np.ndarray] | None = None
        self.pseudo_round = 0
        self.augmenter = Augmenter(
            config.augment,
            load_banks(config.noise),
            load_banks(config.rir),
            seed=config.seed,
            device=self.device,
        )
        self.gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.optimizer = self._make_optimizer()
        self.step = 0
        self._inference: tuple[int, SegmentEncoder] | None = None
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []
        self.val_set = self.test_set = None
        if config.eval_data and config.validate_steps > 0:
            from diarize import eer

            utts = eer.load_utterances(config.eval_data)
            # Validation: audio after the first 6 s of each utterance; the reported evaluation
            # (eer.evaluate) uses the first 6 s, so the two never share samples.
            try:
                self.val_set = eer.build_eval_set(utts, offset=6.0, num_nontarget=10000)
                logger.info("validation trials: %s", self.val_set.describe())
            except eer.EvalError as exc:
                logger.warning("no validation EER: %s", exc)
            try:
                self.test_set = eer.build_eval_set(utts)
            except eer.EvalError as exc:
                logger.warning("no test EER during training: %s", exc)

    # --- setup ------------------------------------------------------------------------------

    def _load_init(self, path: str) -> None:
        """Start from the weights of the encoder checkpoint ``path`` (same architecture)."""
        from diarize.errors import ModelError
        from diarize.nn import build_from_checkpoint, read_checkpoint

        try:
            model, features = build_from_checkpoint(read_checkpoint(path))
        except ModelError as exc:
            raise TrainError(f"init: {exc}") from None
        if model.config != self.encoder_config or features != self.feature_config:
            raise TrainError(
                f"init: {path} has another architecture or features than this run "
                f"({model.config} / {features}, against {self.encoder_config} / "
                f"{self.feature_config})"
            )
        self.model.load_state_dict(model.state_dict())
        logger.info("weights initialised from %s", path)

    def _params(self) -> list[nn.Parameter]:
        params = list(self.model.parameters())
        if self.projector is not None:
            params += list(self.projector.parameters())
        if self.head is not None:
            params += list(self.head.parameters())
        return params

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self._params(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay
        )

    # --- checkpoints ------------------------------------------------------------------------

    def _inference_model(self) -> SegmentEncoder:
        """A copy of the model for embedding: batch-norm statistics re-estimated on clean
        windows (the running averages follow the last few augmented batches, which shifts
        the embeddings' mean and scale and with it every cosine score)."""
        if self._inference is not None and self._inference[0] == self.step:
            return self._inference[1]
        from diarize.train.fold import recalibrate_batchnorm

        model = copy.deepcopy(self.model)
        if self.config.bn_batches > 0:
            recalibrate_batchnorm(model, self.fbank, self._clean_batches())
        model.eval()
        self._inference = (self.step, model)
        return model

    def _clean_batches(self):
        """The same ``bn_batches`` batches of clean windows every time (own generator), from
        the sources in the shares of ``bn_source_weights`` when given."""
        from diarize.train.fold import clean_batches

        cfg = self.config
        for x in clean_batches(
            self.recordings,
            cfg.bn_batches,
            cfg.batch_size,
            cfg.window_seconds,
            cfg.seed + 7919,
            cfg.max_gap_seconds,
            cfg.min_speech_fraction,
            groups=self.groups,
            group_weights=cfg.bn_source_weights or None,
        ):
            yield x.to(self.device)

    def encoder(self) -> Encoder:
        model = SegmentEncoder(self.encoder_config, self.config.num_mel_bins)
        state = self._inference_model().state_dict()
        model.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
        return Encoder(model.eval(), self.feature_config, self.meta())

    def final_encoder(self) -> Encoder:
        """:meth:`encoder`, with the pair-LDA back end folded in when configured."""
        enc = self.encoder()
        if not self.config.pair_lda:
            return enc
        from diarize.train.fold import fold_affine, pair_embeddings, pair_lda

        x1, x2 = pair_embeddings(
            enc,
            self.recordings,
            self.config.pair_lda_pairs,
            self.config.window_seconds,
            seed=self.config.seed + 104729,
        )
        mean, transform, _ = pair_lda(x1, x2, self.config.pair_lda_dim or None)
        logger.info("pair-LDA back end from %d positive pairs folded in", len(x1))
        return fold_affine(enc, mean, transform)

    def meta(self) -> dict[str, Any]:
        return {
            "name": Path(self.config.out).stem,
            "step": self.step,
            "train_seconds": round(self.elapsed, 1),
            "train_config": self.config.to_dict(),
            "history": list(self.history),
            "pseudo_round": self.pseudo_round,
        }

    def save(self, final: bool = False) -> None:
        out = Path(self.config.out)
        enc = self.final_encoder() if final else self.encoder()
        save_encoder(out, enc.model, self.feature_config, enc.meta)
        state = {
            "version": STATE_VERSION,
            "train_config": self.config.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "model": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "projector": None
            if self.projector is None
            else {k: v.cpu() for k, v in self.projector.state_dict().items()},
            "head": None
            if self.head is None
            else {k: v.cpu() for k, v in self.head.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state(),
            "torch_gen": self.gen.get_state().cpu(),
            "torch_cpu_rng": torch.get_rng_state(),
            "queue": self.queue.state(),
            "history": list(self.history),
            "pseudo_round": self.pseudo_round,
            "pseudo": None
            if self.pseudo is None
            else {k: torch.from_numpy(v) for k, v in self.pseudo.items()},
        }
        path = self.config.state_path()
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        logger.info("step %d: saved %s and %s", self.step, out, path)

    def resume(self) -> None:
        path = self.config.state_path()
        if not path.is_file():
            raise TrainError(f"{path}: no training state to resume from")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if int(state.get("version", -1)) != STATE_VERSION:
            raise TrainError(f"{path}: unsupported training state version")
        self.model.load_state_dict(state["model"])
        if self.projector is not None and state["projector"] is not None:
            self.projector.load_state_dict(state["projector"])
        self.pseudo_round = int(state["pseudo_round"])
        if state["pseudo"] is not None:
            self.pseudo = {k: v.numpy() for k, v in state["pseudo"].items()}
            self._new_head(int(self.pseudo["label"].max()) + 1)
        if self.head is not None and state["head"] is not None:
            self.head.load_state_dict(state["head"])
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state(state["sampler"])
        self.gen.set_state(state["torch_gen"].to(self.gen.get_state().device))
        torch.set_rng_state(state["torch_cpu_rng"])
        self.queue.load_state(state["queue"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.history = list(state["history"])
        logger.info("resumed at step %d (%.1f min trained)", self.step, self.elapsed / 60)

    # --- one step ---------------------------------------------------------------------------

    def _window_samples(self) -> int:
        cfg = self.config
        seconds = cfg.window_seconds
        if cfg.window_max_seconds > cfg.window_seconds:
            # Quantised to 0.1 s so the sampler's per-length caches stay few.
            k = int(
                self.sampler.rng.integers(
                    0, round((cfg.window_max_seconds - cfg.window_seconds) * 10) + 1
                )
            )
            seconds = cfg.window_seconds + 0.1 * k
        return int(round(seconds * data_mod.SAMPLE_RATE))

    def _read_samples(self, num_samples: int) -> int:
        aug = self.config.augment
        if aug.p_speed > 0 and aug.speed > 0:
            return int(math.ceil(num_samples * (1 + aug.speed))) + 2
        return num_samples

    def _embed_views(self, raw: np.ndarray, num_samples: int) -> torch.Tensor:
        x = torch.from_numpy(raw).to(self.device)
        x = self.augmenter(x, num_samples, self.gen)
        feats = augment_features(self.fbank(x), self.config.augment, self.gen)
        return self.model(feats)

    def _project(self, emb: torch.Tensor) -> torch.Tensor:
        return self.projector(emb) if self.projector is not None else emb

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        num_samples = self._window_samples()
        batch = self.sampler.sample(cfg.batch_size, self._read_samples(num_samples))
        source = torch.from_numpy(batch.source).to(self.device)
        raw = np.concatenate([batch.first, batch.second])
        emb = self._embed_views(raw, num_samples)
        e1, e2 = emb[: cfg.batch_size], emb[cfg.batch_size :]
        stats: dict[str, float] = {}
        if cfg.supervised:
            labels = torch.from_numpy(self.labels_of_recording[batch.source]).to(self.device)
            loss = self.head(emb, torch.cat([labels, labels]))
            stats["aam"] = loss.item()
        else:
            z1, z2 = self._project(e1), self._project(e2)
            if cfg.loss == "barlow":
                loss = barlow_twins(z1, z2, cfg.barlow_off_diagonal)
            else:
                loss = nt_xent(
                    z1,
                    z2,
                    source,
                    cfg.temperature,
                    self.queue.emb if cfg.queue_size else None,
                    self.queue.source,
                    cfg.drop_nearest,
                )
                self.queue.push(z1, source)
            stats["ssl"] = loss.item()
            if self.pseudo is not None and cfg.pseudo_weight > 0:
                aam = self._pseudo_loss(num_samples)
                stats["aam"] = aam.item()
                loss = loss + cfg.pseudo_weight * aam
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate_at(cfg, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self._params(), 5.0)
        self.optimizer.step()
        self.step += 1
        stats["loss"] = loss.item()
        if not math.isfinite(stats["loss"]):
            raise TrainError(f"step {self.step}: loss is not finite ({stats['loss']})")
        return stats

    # --- pseudo-labels ----------------------------------------------------------------------

    def _new_head(self, num_classes: int) -> None:
        self.head = AAMSoftmax(
            self.config.embed_dim, num_classes, self.config.aam_margin, self.config.aam_scale
        ).to(self.device)
        self.optimizer = self._make_optimizer()

    def _pseudo_loss(self, num_samples: int) -> torch.Tensor:
        cfg = self.config
        pool = self.pseudo
        assert pool is not None and self.head is not None
        rng = self.sampler.rng
        pick = rng.integers(len(pool["label"]), size=cfg.pseudo_batch_size)
        pool_samples = int(round(cfg.pseudo_window_seconds * data_mod.SAMPLE_RATE))
        read = self._read_samples(num_samples)
        raw = np.zeros((len(pick), read), dtype=np.float32)
        for row, k in enumerate(pick):
            rec = self.recordings[int(pool["source"][k])]
            # A crop of the training length centred on the pooled window (inside the file).
            centre = int(pool["start"][k]) + pool_samples // 2
            a = centre - read // 2 + int(rng.integers(-pool_samples // 4, pool_samples // 4 + 1))
            a = int(np.clip(a, 0, max(rec.num_samples - read, 0)))
            piece = rec.waveform[a : a + read]
            raw[row, : len(piece)] = piece
        labels = torch.from_numpy(pool["label"][pick]).to(self.device)
        emb = self._embed_views(raw, num_samples)
        return self.head(emb, labels)

    @torch.no_grad()
    def refresh_pseudo_labels(self) -> None:
        """Cluster the encoder's embeddings of speech windows of all recordings (average-
        linkage AHC on cosine distance), keep clusters of at least ``pseudo_min_cluster``
        windows and, in each, the ``pseudo_keep_fraction`` closest to the centroid; the
        AAM head restarts from the kept centroids."""
        from diarize.train.pseudo import cluster_windows

        cfg = self.config
        window = int(round(cfg.pseudo_window_seconds * data_mod.SAMPLE_RATE))
        src, starts = self.sampler.windows(window, window)
        emb = self._embed_pool(src, starts, window)
        labels, keep, info = cluster_windows(emb, cfg.pseudo_min_cluster, cfg.pseudo_keep_fraction)
        self.pseudo = {
            "source": src[keep],
            "start": starts[keep],
            "label": labels[keep],
        }
        num_classes = int(labels[keep].max()) + 1
        centroids = np.stack(
            [emb[keep][labels[keep] == c].mean(0) for c in range(num_classes)]
        ).astype(np.float32)
        self._new_head(num_classes)
        self.head.weight.data.copy_(torch.from_numpy(centroids))
        self.pseudo_round += 1
        logger.info(
            "pseudo-label round %d: %d windows -> %d clusters kept, %d windows (%s)",
            self.pseudo_round,
            len(src),
            num_classes,
            int(keep.sum()),
            info,
        )

    @torch.no_grad()
    def _embed_pool(self, src: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
        self.model.eval()
        out = []
        for b in range(0, len(src), 256):
            x = np.stack(
                [
                    self.recordings[int(s)].waveform[int(a) : int(a) + window]
                    for s, a in zip(src[b : b + 256], starts[b : b + 256], strict=True)
                ]
            )
            e = self.model(self.fbank(torch.from_numpy(x).to(self.device)))
            out.append(torch.nn.functional.normalize(e, dim=1).cpu().numpy())
        self.model.train()
        return np.concatenate(out)

    # --- validation -------------------------------------------------------------------------

    def validate(self) -> dict[str, float]:
        from diarize import eer

        enc = _DeviceEncoder(self._inference_model(), self.fbank)
        out: dict[str, float] = {"step": float(self.step), "minutes": round(self.elapsed / 60, 2)}
        for tag, eval_set in (("val", self.val_set), ("test", self.test_set)):
            if eval_set is None:
                continue
            for seg, value in zip(eval_set.segments, eer.eval_model(enc, eval_set), strict=True):
                out[f"{tag}_eer_{seg.length:g}"] = round(100 * value, 2)
        return out

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> Path:
        from tqdm import tqdm

        cfg = self.config
        if cfg.device == "cpu":
            torch.set_num_threads(cfg.threads)
        last_save = time.monotonic()
        limit = cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
        bar = tqdm(
            total=cfg.num_steps,
            initial=self.step,
            disable=not self.progress,
            unit="step",
            dynamic_ncols=True,
        )
        audio_seconds = 0.0
        t_rate = time.monotonic()
        try:
            while self.step < cfg.num_steps and self.elapsed < limit:
                if self._pseudo_due():
                    self.refresh_pseudo_labels()
                t0 = time.monotonic()
                stats = self.train_step()
                dt = time.monotonic() - t0
                self.elapsed += dt
                audio_seconds += 2 * cfg.batch_size * cfg.window_seconds
                rate = audio_seconds / max(time.monotonic() - t_rate, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", audio_s_per_s=f"{rate:.0f}")
                if (
                    cfg.validate_steps > 0
                    and (self.val_set or self.test_set)
                    and (self.step % cfg.validate_steps == 0 or self.step == cfg.num_steps)
                ):
                    record = {**self.validate(), "loss": round(stats["loss"], 4)}
                    self.history.append(record)
                    logger.info("validation %s", record)
                if time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.monotonic()
        finally:
            bar.close()
        self.save(final=self.step >= cfg.num_steps)
        return Path(cfg.out)

    def _pseudo_due(self) -> bool:
        cfg = self.config
        if cfg.supervised or self.pseudo_round >= cfg.pseudo_rounds:
            return False
        due = cfg.pseudo_start_step + self.pseudo_round * cfg.pseudo_every_steps
        return self.step >= due


class _DeviceEncoder(Encoder):
    """The training model behind the ``EmbeddingModel`` face, on its own device."""

    def __init__(self, model: SegmentEncoder, fbank: Fbank):
        self.model, self.fbank, self.dim = model, fbank, model.config.embed_dim
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        x = torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32)).to(self.device)
        e = torch.nn.functional.normalize(self.model(self.fbank(x)), dim=1)
        self.model.train(was_training)
        return e.cpu().numpy()


def train(config: TrainConfig, resume: bool = False, progress: bool = False) -> Path:
    """Train (or resume) and write the encoder checkpoint; returns its path."""
    state = config.state_path()
    if not resume and state.exists():
        raise TrainError(
            f"{state} exists: pass --resume to continue that run, or remove it to start over"
        )
    trainer = Trainer(config, progress=progress)
    if resume:
        trainer.resume()
    return trainer.run()
