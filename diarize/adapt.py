"""Fine-tune a copy of the encoder on the recording being diarized (no labels).

The objective is the training one (NT-Xent on pairs of disjoint speech windows less than 0.5 s
apart, :mod:`diarize.train`), with one change forced by having a single recording: the other
windows of the batch come from the same file, so some of them are the anchor's own speaker.
Negatives that the encoder already finds more similar to the anchor than the batch median are
left out of the softmax (false-negative elimination), so adaptation sharpens
what separates voices rather than pushing a speaker away from itself. Batch norm statistics
stay frozen (a handful of windows would make poor population statistics); the step count is
bounded, so the cost is a few seconds on a 30 s file.

It trains, so it needs torch (the ``train`` extra); an ONNX export is adapted through the
``.pt`` checkpoint it was exported from (:meth:`diarize.encoder.OnnxEncoder.torch_encoder`).
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from diarize.errors import require

require("torch", "--adapt (fine-tuning the encoder on the recording)")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from diarize.encoder import EmbeddingModel  # noqa: E402
from diarize.nn import Encoder, torch_encoder  # noqa: E402
from diarize.train.augment import AugmentConfig, Augmenter, augment_features  # noqa: E402
from diarize.train.data import HOP_SAMPLES, PairSampler, Recording  # noqa: E402

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0
BATCH_PAIRS = 8
LEARNING_RATE = 1e-4
TEMPERATURE = 0.1


def _speech_mask(num_samples: int, regions: np.ndarray) -> np.ndarray:
    """(num_frames,) bool: 10 ms frames whose 25 ms span lies inside a speech region."""
    num_frames = max((num_samples - 400) // HOP_SAMPLES + 1, 0)
    mask = np.zeros(num_frames, dtype=bool)
    for start, end in np.asarray(regions, dtype=np.int64).reshape(-1, 2):
        f0 = max(-(-int(start) // HOP_SAMPLES), 0)
        f1 = min((int(end) - 400) // HOP_SAMPLES + 1, num_frames)
        if f1 > f0:
            mask[f0:f1] = True
    return mask


def seed_torch(seed: int) -> None:
    """Seed torch's global generator (what the pipeline does before adapting)."""
    torch.manual_seed(seed)


def adapt_encoder(
    encoder: EmbeddingModel,
    waveform: np.ndarray,
    regions: np.ndarray,
    steps: int = 30,
    seed: int = 0,
) -> Encoder:
    """Return a copy of ``encoder`` fine-tuned for ``steps`` steps on ``waveform``.

    Parameters
    ----------
    encoder : the encoder to start from (left unchanged); an ONNX export starts from its
        checkpoint (:func:`diarize.nn.torch_encoder`)
    waveform : (num_samples,) float32 mono audio at the encoder's rate
    regions : (num_regions, 2) int64 speech regions [start, end) in samples
    steps : optimisation steps (0 = an unchanged copy)
    seed : same seed, same inputs -> same adapted weights

    Returns
    -------
    A new :class:`Encoder` (same front end, meta with ``adapt_steps``).
    """
    encoder = torch_encoder(encoder)
    model = copy.deepcopy(encoder.model)
    meta = {**encoder.meta, "adapt_steps": 0}
    out = Encoder(model, encoder.feature_config, meta, encoder.extra)
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if steps <= 0:
        return out
    rec = Recording("input", waveform, _speech_mask(len(waveform), regions))
    window = int(round(WINDOW_SECONDS * encoder.sample_rate))
    sampler = PairSampler([rec], max_gap=0.5, min_speech_fraction=0.5, seed=seed)
    if sampler.num_eligible(WINDOW_SECONDS) == 0:
        logger.info("adaptation skipped: no two disjoint %.1f s speech windows", WINDOW_SECONDS)
        return out
    read = int(np.ceil(window * 1.05)) + 2  # room for the speed perturbation
    augment = AugmentConfig(
        p_reverb=0.0, p_noise=0.0, p_eq=0.0, p_bandlimit=0.0, speed=0.05, p_speed=0.5
    )
    augmenter = Augmenter(augment, [], [], seed=seed, num_simulated_rirs=1)
    gen = torch.Generator().manual_seed(seed)
    fbank = out.fbank
    model.eval()  # frozen batch-norm statistics; gradients still flow
    params = [p for p in model.parameters() if p.requires_grad]
    adam = _Adam(params, LEARNING_RATE)
    for _ in range(steps):
        batch = sampler.sample(BATCH_PAIRS, read)
        raw = torch.from_numpy(np.concatenate([batch.first, batch.second]))
        views = augmenter(raw, window, gen)
        emb = model(augment_features(fbank(views), augment, gen))
        with torch.no_grad():
            # Rows the encoder finds closer than the batch median are not each other's
            # negatives (likely the same voice).
            z = F.normalize(emb, dim=1)
            sim = z @ z.T
            close = sim > sim.median()
        group = torch.arange(BATCH_PAIRS).repeat(2)
        loss = _masked_nt_xent(emb[:BATCH_PAIRS], emb[BATCH_PAIRS:], group, close)
        model.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
    model.eval()
    out.meta["adapt_steps"] = steps
    return out


class _Adam:
    """Adam (Kingma and Ba 2015, algorithm 1), written out: torch.optim's first use imports
    the compiler stack, seconds that a per-recording adaptation cannot afford."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float, betas=(0.9, 0.999)):
        self.params, self.lr, self.betas, self.t = params, lr, betas, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p.sub_(self.lr * m_hat / (v_hat.sqrt() + 1e-8))


def _masked_nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, group: torch.Tensor, close: torch.Tensor
) -> torch.Tensor:
    """NT-Xent where entries flagged in ``close`` (2B, 2B) are not negatives."""
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / TEMPERATURE
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    pos = torch.zeros(2 * b, 2 * b, dtype=torch.bool)
    pos[torch.arange(2 * b), target] = True
    same = group[:, None] == group[None, :]
    logits = logits.masked_fill((same | close) & ~pos, float("-inf"))
    return F.cross_entropy(logits, target)
