"""Batched augmentation of training views (torch; runs on whatever device holds the batch).

Each view of a pair is augmented independently, so that what the two views share is the voice,
not the room, the noise or the level:

* speed: resampling by a factor within ``1 +- speed`` (tempo and pitch move together);
* one other talker (``p_talker``): another row of the batch, ``talker_db`` below the view,
  rolled in time (a backchannel or a neighbour's crosstalk under the voice that counts);
  added before the room, so the two voices share it;
* room: convolution with a real room response or a simulated one (exponentially decaying noise
  tail after a direct path and early gap; RT60 0.15-0.9 s, direct-to-reverberant 0-15 dB);
* noise at ``snr_db`` SNR: real recordings, coloured noise (1/f^a, a in [0, 2]) or babble made
  of other rows of the batch (3-6 talkers summed);
* gain in ``gain_db``;
* in the log-mel domain (:func:`augment_features`): a random smooth equaliser (+-``eq_db``),
  band limiting (the bins above a random cut-off between 3.4 and 7.5 kHz pushed to the floor),
  and SpecAugment-style time and frequency masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from diarize.errors import ConfigError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (0 probability = off)."""

    speed: float = 0.0  # max relative speed change (0.05 = +-5 %)
    p_speed: float = 0.0
    p_reverb: float = 0.4
    p_real_rir: float = 0.3  # share of reverberated views that get a real room response
    drr_db: tuple[float, float] = (0.0, 15.0)  # direct-to-reverberant ratio of simulated rooms
    p_noise: float = 0.6
    snr_db: tuple[float, float] = (0.0, 20.0)
    p_babble: float = 0.25  # share of noisy views whose noise is babble
    p_real_noise: float = 0.4  # share of non-babble noisy views with real recorded noise
    p_talker: float = 0.0  # share of views with one other talker of the batch added
    talker_db: tuple[float, float] = (3.0, 15.0)  # how far below the view that talker is
    gain_db: tuple[float, float] = (-12.0, 6.0)
    eq_db: float = 3.0
    p_eq: float = 0.5
    p_bandlimit: float = 0.1
    # share of views passed through a telephone-like channel (after noise, as a call carries
    # the room's noise too): a band-pass with edges drawn from telephone_low_hz and
    # telephone_high_hz, then, for a share p_mulaw of them, 8-bit mu-law companding
    p_telephone: float = 0.0
    telephone_low_hz: tuple[float, float] = (200.0, 400.0)
    telephone_high_hz: tuple[float, float] = (3000.0, 3700.0)
    p_mulaw: float = 0.5
    time_masks: int = 1
    time_mask_frames: int = 10
    freq_masks: int = 1
    freq_mask_bins: int = 6

    def check(self) -> None:
        """Every ``p_*`` a probability, every range ``(low, high)`` in order."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"[train.augment] {f.name} must be in [0, 1], got {value}")
            if isinstance(value, (tuple, list)) and (len(value) != 2 or value[0] > value[1]):
                raise ConfigError(
                    f"[train.augment] {f.name} must be a range [low, high], got {list(value)}"
                )
        low, high = self.telephone_low_hz, self.telephone_high_hz
        if not 0 <= low[0] <= low[1] < high[0] <= high[1] <= SAMPLE_RATE / 2:
            raise ConfigError(
                "[train.augment] the telephone band needs 0 <= telephone_low_hz < "
                f"telephone_high_hz <= {SAMPLE_RATE // 2} Hz, got {list(low)} and {list(high)}"
            )


def simulated_rirs(
    rng: np.random.Generator,
    count: int,
    max_samples: int,
    drr_range: tuple[float, float] = (0.0, 15.0),
) -> list[np.ndarray]:
    """``count`` synthetic room responses (direct path + early gap + decaying noise tail)."""
    out = []
    for _ in range(count):
        rt60 = rng.uniform(0.15, 0.9)
        drr_db = rng.uniform(*drr_range)
        length = min(int(1.2 * rt60 * SAMPLE_RATE), max_samples)
        t = np.arange(length) / SAMPLE_RATE
        tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)
        tail[: int(rng.uniform(0.002, 0.008) * SAMPLE_RATE)] = 0.0
        tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))
        tail[0] = 1.0
        out.append(tail.astype(np.float32))
    return out


def align_rir(rir: np.ndarray, max_samples: int) -> np.ndarray:
    """Start at the direct path (the peak), scale it to 1, truncate."""
    peak = int(np.argmax(np.abs(rir)))
    out = np.asarray(rir[peak : peak + max_samples], dtype=np.float64)
    return (out / out[0]).astype(np.float32)


def _mix_below(
    x: torch.Tensor, other: torch.Tensor, below_db: torch.Tensor, draw: torch.Tensor
) -> torch.Tensor:
    """``x`` plus, in the rows where ``draw`` is true, ``other`` scaled to ``below_db`` under
    the row's own mean-square level (noise at an SNR, another talker under the voice)."""
    p_sig = x.square().mean(1)
    p_other = other.square().mean(1).clamp(min=1e-10)
    scale = (p_sig / p_other / 10 ** (below_db / 10)).sqrt()
    return x + torch.where(draw, scale, torch.zeros_like(scale))[:, None] * other


class Augmenter:
    """Holds the noise and room banks; ``__call__`` augments one batch of views.

    Parameters
    ----------
    noises : list of (num_samples,) float32 arrays, real noise recordings at 16 kHz (may be empty)
    rirs : list of (num_samples,) float32 arrays, real room responses at 16 kHz (may be empty)
    """

    def __init__(
        self,
        config: AugmentConfig,
        noises: list[np.ndarray],
        rirs: list[np.ndarray],
        seed: int = 0,
        num_simulated_rirs: int = 200,
        max_rir_samples: int = 8000,
        device: str | torch.device = "cpu",
    ):
        self.config = config
        self.device = torch.device(device)
        rng = np.random.default_rng(seed)
        real = [align_rir(r, max_rir_samples) for r in rirs if len(r) and np.any(r)]
        sim = simulated_rirs(rng, num_simulated_rirs, max_rir_samples, tuple(config.drr_db))
        self.num_real_rirs = len(real)
        bank = np.zeros((len(real) + len(sim), max_rir_samples), dtype=np.float32)
        for i, r in enumerate(real + sim):
            bank[i, : len(r)] = r
        self.rirs = torch.from_numpy(bank).to(self.device)
        pieces = [n / max(float(np.sqrt(np.mean(n.astype(np.float64) ** 2))), 1e-9) for n in noises]
        pieces = [p.astype(np.float32) for p in pieces if len(p) >= SAMPLE_RATE]
        self.noise = torch.from_numpy(np.concatenate(pieces)).to(self.device) if pieces else None

    def _uniform(self, gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=self.device) * (hi - lo) + lo

    def _bernoulli(self, gen: torch.Generator, n: int, p: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=self.device) < p

    def speed(self, x: torch.Tensor, num_samples: int, gen: torch.Generator) -> torch.Tensor:
        """(B, N_in) -> (B, num_samples): linear-interpolation resampling by a random factor
        (1 where not drawn), from a random offset that keeps the read inside the input."""
        b, n_in = x.shape
        cfg = self.config
        factor = torch.ones(b, device=self.device)
        if cfg.p_speed > 0 and cfg.speed > 0:
            draw = self._bernoulli(gen, b, cfg.p_speed)
            f = self._uniform(gen, b, 1 - cfg.speed, 1 + cfg.speed)
            factor = torch.where(draw, f, factor)
        span = (num_samples - 1) * factor
        room = (n_in - 1 - span).clamp(min=0)
        offset = torch.rand(b, generator=gen, device=self.device) * room
        pos = (
            offset[:, None] + torch.arange(num_samples, device=self.device)[None] * factor[:, None]
        )
        pos = pos.clamp(max=n_in - 1)
        i0 = pos.floor().long().clamp(max=n_in - 2) if n_in > 1 else pos.floor().long()
        w = (pos - i0).to(x.dtype)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return x.gather(1, i0) * (1 - w) + x.gather(1, i1) * w

    def reverb(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, n = x.shape
        cfg = self.config
        draw = self._bernoulli(gen, b, cfg.p_reverb)
        if not draw.any():
            return x
        idx = torch.nonzero(draw).flatten()
        num_sim = len(self.rirs) - self.num_real_rirs
        choose_real = self._bernoulli(gen, len(idx), cfg.p_real_rir if self.num_real_rirs else 0.0)
        real_pick = torch.randint(
            max(self.num_real_rirs, 1), (len(idx),), generator=gen, device=self.device
        )
        sim_pick = self.num_real_rirs + torch.randint(
            num_sim, (len(idx),), generator=gen, device=self.device
        )
        rir = self.rirs[torch.where(choose_real, real_pick, sim_pick)]
        dry = x[idx]
        nfft = 1 << (n + rir.shape[1] - 1).bit_length()
        wet = torch.fft.irfft(torch.fft.rfft(dry, nfft) * torch.fft.rfft(rir, nfft), nfft)[:, :n]
        scale = dry.square().mean(1).sqrt() / wet.square().mean(1).sqrt().clamp(min=1e-8)
        out = x.clone()
        out[idx] = wet * scale[:, None]
        return out

    def _coloured(self, gen: torch.Generator, b: int, n: int) -> torch.Tensor:
        white = torch.randn(b, n, generator=gen, device=self.device)
        spec = torch.fft.rfft(white)
        f = torch.fft.rfftfreq(n, 1.0 / SAMPLE_RATE, device=self.device).clamp(min=20.0)
        slope = self._uniform(gen, b, 0.0, 2.0)
        spec = spec * f[None].pow(-slope[:, None] / 2)
        return torch.fft.irfft(spec, n)

    def _real(self, gen: torch.Generator, b: int, n: int) -> torch.Tensor:
        """Random excerpts of the concatenated (unit-RMS) noise recordings."""
        start = torch.randint(len(self.noise) - n, (b,), generator=gen, device=self.device)
        return self.noise[start[:, None] + torch.arange(n, device=self.device)[None]]

    def _babble(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Each row: 3-6 other rows of the batch (circular shifts of the batch order), each
        at unit level, rolled in time by a random amount."""
        b, n = x.shape
        unit = x / x.square().mean(1, keepdim=True).sqrt().clamp(min=1e-6)
        out = torch.zeros_like(x)
        num = int(torch.randint(3, 7, (1,), generator=gen, device=self.device).item())
        for _ in range(num):
            shift = 1 + int(torch.randint(max(b - 1, 1), (1,), generator=gen, device=self.device))
            roll = int(torch.randint(n, (1,), generator=gen, device=self.device))
            out = out + torch.roll(torch.roll(unit, shift, 0), roll, 1)
        return out

    def noise_mix(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, n = x.shape
        cfg = self.config
        draw = self._bernoulli(gen, b, cfg.p_noise)
        if not draw.any():
            return x
        kind = torch.rand(b, generator=gen, device=self.device)
        noise = self._coloured(gen, b, n)
        if self.noise is not None and len(self.noise) > n:
            real_share = cfg.p_real_noise * (1 - cfg.p_babble)
            use_real = (kind >= cfg.p_babble) & (kind < cfg.p_babble + real_share)
            noise = torch.where(use_real[:, None], self._real(gen, b, n), noise)
        if b > 1 and cfg.p_babble > 0:
            noise = torch.where((kind < cfg.p_babble)[:, None], self._babble(x, gen), noise)
        return _mix_below(x, noise, self._uniform(gen, b, *cfg.snr_db), draw)

    def talker_mix(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Add, to a share ``p_talker`` of the rows, one other row of the batch (one shift of
        the batch order for all, rolled in time) ``talker_db`` below the row's own level.
        The training batch stacks the two views of ``B / 2`` windows, so the shift is never
        ``B / 2``: a view never gets its own pair's other view as the other talker."""
        b, n = x.shape
        cfg = self.config
        if b < 3 or cfg.p_talker <= 0:
            return x
        draw = self._bernoulli(gen, b, cfg.p_talker)
        if not draw.any():
            return x
        shifts = [s for s in range(1, b) if 2 * s != b]
        shift = shifts[int(torch.randint(len(shifts), (1,), generator=gen, device=self.device))]
        roll = int(torch.randint(n, (1,), generator=gen, device=self.device))
        other = torch.roll(torch.roll(x, shift, 0), roll, 1)
        return _mix_below(x, other, self._uniform(gen, b, *cfg.talker_db), draw)

    def telephone(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """A share ``p_telephone`` of the rows through a telephone-like channel: everything
        outside a band drawn per row removed (50-Hz raised-cosine edges, in the spectrum of
        the whole view), then, for a share ``p_mulaw`` of those rows, 8-bit mu-law
        companding at a level drawn per row (peak at -1 to -12 dB of full scale)."""
        b, n = x.shape
        cfg = self.config
        if cfg.p_telephone <= 0:
            return x
        draw = self._bernoulli(gen, b, cfg.p_telephone)
        if not draw.any():
            return x
        low = self._uniform(gen, b, *cfg.telephone_low_hz)[:, None]
        high = self._uniform(gen, b, *cfg.telephone_high_hz)[:, None]
        f = torch.fft.rfftfreq(n, 1.0 / SAMPLE_RATE, device=self.device)[None]
        edge = 50.0

        def ramp(z: torch.Tensor) -> torch.Tensor:  # 0 below -edge/2, 1 above +edge/2
            return 0.5 - 0.5 * torch.cos(math.pi * ((z / edge) + 0.5).clamp(0.0, 1.0))

        gain = ramp(f - low) * ramp(high - f)
        out = torch.fft.irfft(torch.fft.rfft(x) * gain, n)
        if cfg.p_mulaw > 0:
            mu = 255.0
            peak = out.abs().amax(dim=1, keepdim=True).clamp(min=1e-6)
            level = 10 ** (-self._uniform(gen, b, 1.0, 12.0) / 20)[:, None]
            y = (out / peak * level).clamp(-1.0, 1.0)
            code = torch.sign(y) * torch.log1p(mu * y.abs()) / math.log1p(mu)
            code = torch.round(code * 127.5) / 127.5
            back = torch.sign(code) * ((1 + mu) ** code.abs() - 1) / mu * peak / level
            companded = self._bernoulli(gen, b, cfg.p_mulaw)[:, None]
            out = torch.where(companded, back, out)
        return torch.where(draw[:, None], out, x)

    def gain(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        db = self._uniform(gen, x.shape[0], *self.config.gain_db)
        return x * (10 ** (db / 20))[:, None]

    def __call__(self, x: torch.Tensor, num_samples: int, gen: torch.Generator) -> torch.Tensor:
        """(B, N_in) raw windows -> (B, num_samples) augmented views (N_in >= num_samples)."""
        x = self.speed(x, num_samples, gen)
        x = self.talker_mix(x, gen)
        x = self.reverb(x, gen)
        x = self.noise_mix(x, gen)
        x = self.telephone(x, gen)
        return self.gain(x, gen).clamp(-4.0, 4.0)


def augment_features(
    feats: torch.Tensor, config: AugmentConfig, gen: torch.Generator, floor: float = -13.8
) -> torch.Tensor:
    """Log-mel (B, T, M) -> random EQ, band limiting and masks; ``floor`` = log(1e-6)."""
    b, t, m = feats.shape
    dev = feats.device
    out = feats
    if config.p_eq > 0 and config.eq_db > 0:
        # Smooth curve across bands: three random cosines, up to eq_db (in natural-log units).
        k = torch.arange(1, 4, device=dev, dtype=feats.dtype)
        bins = torch.linspace(0, math.pi, m, device=dev, dtype=feats.dtype)
        coef = (torch.rand(b, 3, generator=gen, device=dev) * 2 - 1) / 3
        curve = (coef[:, :, None] * torch.cos(k[None, :, None] * bins[None, None])).sum(1)
        amp = config.eq_db * math.log(10) / 10
        draw = (torch.rand(b, generator=gen, device=dev) < config.p_eq).to(feats.dtype)
        out = out + (amp * draw)[:, None, None] * curve[:, None, :]
    if config.p_bandlimit > 0:
        draw = torch.rand(b, generator=gen, device=dev) < config.p_bandlimit
        cut = torch.randint(int(m * 0.55), int(m * 0.95), (b,), generator=gen, device=dev)
        above = torch.arange(m, device=dev)[None] >= cut[:, None]
        mask = (draw[:, None] & above)[:, None, :]
        out = torch.where(mask, torch.full_like(out, floor), out)
    fill = out.mean(dim=(1, 2), keepdim=True)
    for _ in range(config.time_masks):
        w = torch.randint(0, config.time_mask_frames + 1, (b,), generator=gen, device=dev)
        s = (torch.rand(b, generator=gen, device=dev) * (t - w).clamp(min=1)).long()
        idx = torch.arange(t, device=dev)[None]
        mask = (idx >= s[:, None]) & (idx < (s + w)[:, None])
        out = torch.where(mask[:, :, None], fill, out)
    for _ in range(config.freq_masks):
        w = torch.randint(0, config.freq_mask_bins + 1, (b,), generator=gen, device=dev)
        s = (torch.rand(b, generator=gen, device=dev) * (m - w).clamp(min=1)).long()
        idx = torch.arange(m, device=dev)[None]
        mask = (idx >= s[:, None]) & (idx < (s + w)[:, None])
        out = torch.where(mask[:, None, :], fill, out)
    return out
