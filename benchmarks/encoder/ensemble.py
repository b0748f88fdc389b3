"""Two encoders of one architecture as one checkpoint whose embedding is both of theirs.

Extras: `train`.

    python -m benchmarks.encoder.ensemble models/encoder-v5.pt runs/v5/encoder-v5-cpu.pt \\
        --out runs/ens/raw.pt
    models/fit_backend.sh runs/ens/raw.pt \\
        ../shared/data/train/librispeech/librispeech_train-clean-100 runs/ens/encoder-ens.pt
    python -m benchmarks.crossdomain --model runs/ens/encoder-ens.onnx \\
        --variants shipped,oracle-count --out benchmarks/reports/encoder/V5-ENSEMBLE-CROSSDOMAIN.md
    python -m benchmarks.heldout_eer --model ens=runs/ens/encoder-ens.onnx \\
        --out benchmarks/reports/encoder/V5-ENSEMBLE-EER.md

The result is an ordinary ``SegmentEncoder`` with twice the channels, pooling channels and
embedding dimensions, whose weights are block-diagonal: the stem stacks both stems (they read
the same features), every later convolution keeps the two halves apart, and the head maps
each half's pooled statistics to its own half of the embedding. Its raw embedding is exactly
the two raw embeddings side by side (checked on random features before saving), so the
pipeline, ``fit-backend`` (PLDA and thresholds of the pair) and ``export`` take it unchanged.
The two halves count equally only as far as their raw norms agree, since the pipeline
length-normalises the whole vector. Telephone-band batch-norm statistics are carried over
when both checkpoints hold them. The dense block-diagonal layers cost about four times one
encoder's trunk.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from diarize.nn import SegmentEncoder, build_from_checkpoint, read_checkpoint, save_encoder


def combine(first: SegmentEncoder, second: SegmentEncoder) -> SegmentEncoder:
    """The block-diagonal encoder whose raw embedding is ``first``'s then ``second``'s."""
    if first.config != second.config:
        raise ValueError("the two encoders must share one architecture")
    p, e = first.config.pool_channels, first.config.embed_dim
    config = dataclasses.replace(
        first.config,
        channels=2 * first.config.channels,
        pool_channels=2 * p,
        embed_dim=2 * e,
    )
    in_dim = first.stem[0].in_channels
    out = SegmentEncoder(config, in_dim).eval()
    a, b = first.state_dict(), second.state_dict()
    state = {}
    for key, like in out.state_dict().items():
        x, y = a[key], b[key]
        if key.endswith("num_batches_tracked"):
            state[key] = x
        elif key == "stem.0.weight":  # both halves read the same features
            state[key] = torch.cat([x, y])
        elif key == "head.weight":  # pooled statistics: [mean_a, mean_b, std_a, std_b]
            w = torch.zeros_like(like)
            w[:e, :p], w[:e, 2 * p : 3 * p] = x[:, :p], x[:, p:]
            w[e:, p : 2 * p], w[e:, 3 * p :] = y[:, :p], y[:, p:]
            state[key] = w
        elif x.ndim == 1:  # biases, batch-norm parameters and statistics
            state[key] = torch.cat([x, y])
        else:
            w = torch.zeros_like(like)
            w[: x.shape[0], : x.shape[1]] = x
            w[x.shape[0] :, x.shape[1] :] = y
            state[key] = w
    out.load_state_dict(state)
    return out


def combined_narrowband(first: dict, second: dict) -> dict | None:
    """``extra["narrowband_bn"]`` of the pair, when both checkpoints carry one."""
    one, two = first.get("narrowband_bn"), second.get("narrowband_bn")
    if not one or not two:
        return None
    stats = {
        name: {
            key: torch.cat([torch.as_tensor(values[key]), torch.as_tensor(two["stats"][name][key])])
            for key in ("running_mean", "running_var")
        }
        for name, values in one["stats"].items()
    }
    return {**{k: v for k, v in one.items() if k != "stats"}, "stats": stats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="checkpoint (.pt)")
    parser.add_argument("second", help="checkpoint (.pt) of the same architecture")
    parser.add_argument("--out", required=True, help="checkpoint to write (no back end)")
    args = parser.parse_args(argv)
    ckpts = [read_checkpoint(path) for path in (args.first, args.second)]
    (m1, f1), (m2, f2) = (build_from_checkpoint(c) for c in ckpts)
    if f1 != f2:
        parser.error("the two checkpoints use different front ends")
    model = combine(m1.eval(), m2.eval())
    feats = torch.randn(3, 200, f1.num_mel_bins, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = float((model(feats) - torch.cat([m1(feats), m2(feats)], dim=1)).abs().max())
    if gap > 1e-4:
        raise RuntimeError(f"the combined encoder differs from the pair by {gap}")
    extra = {}
    narrowband = combined_narrowband(ckpts[0].get("extra", {}), ckpts[1].get("extra", {}))
    if narrowband is not None:
        extra["narrowband_bn"] = narrowband
    meta = {"name": "ensemble", "members": [args.first, args.second]}
    save_encoder(args.out, model, f1, meta, extra)
    print(f"wrote {args.out} (largest difference from the pair on random features: {gap:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
