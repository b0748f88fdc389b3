"""Average the weights of encoder checkpoints trained from the same start (a "model soup").

Extras: `train`.

    python -m benchmarks.encoder.soup OUT.pt RUN.pt RUN.pt ... [--weights W,W,...]
    python -m benchmarks.encoder.export OUT.pt --data DATA... --out SOUP.pt

Every floating-point tensor of the state dicts is averaged, batch-norm running statistics
too, which is why the second line re-estimates them on clean training windows. With
``--weights`` the mean is weighted: ``--weights 0.25,0.75`` of the checkpoint a fine-tune
started from and the fine-tune is the point three quarters of the way between them. Integer
tensors (batch-norm step counters) are taken from the first checkpoint. The checkpoints must
share architecture and features. The averaged checkpoint has no back end: give it one with
``models/fit_backend.sh``.
"""

from __future__ import annotations

import argparse

import torch

from diarize.nn import build_from_checkpoint, read_checkpoint, save_encoder


def average_state(
    states: list[dict[str, torch.Tensor]], weights: list[float] | None = None
) -> dict[str, torch.Tensor]:
    """The element-wise mean of the floating-point tensors of ``states`` (same keys and
    shapes), weighted by ``weights`` (normalised to sum to 1; equal when None), in the first
    state's dtypes; other tensors from the first state."""
    first = states[0]
    for other in states[1:]:
        if other.keys() != first.keys():
            raise ValueError("the checkpoints hold different tensors")
    if weights is None:
        weights = [1.0] * len(states)
    if len(weights) != len(states):
        raise ValueError(f"{len(weights)} weight(s) for {len(states)} checkpoint(s)")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    share = [w / sum(weights) for w in weights]
    out = {}
    for key, value in first.items():
        if value.is_floating_point():
            mean = sum(w * s[key].double() for w, s in zip(share, states, strict=True))
            out[key] = mean.to(value.dtype)
        else:
            out[key] = value.clone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument(
        "--weights", help="comma-separated weight of each checkpoint (default: equal)"
    )
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    ckpts = [read_checkpoint(p) for p in args.checkpoints]
    model, features = build_from_checkpoint(ckpts[0])
    for path, ckpt in zip(args.checkpoints[1:], ckpts[1:], strict=True):
        other, other_features = build_from_checkpoint(ckpt)
        if other.config != model.config or other_features != features:
            raise SystemExit(f"{path}: another architecture or features than the first")
    try:
        state = average_state([c["state_dict"] for c in ckpts], weights)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    model.load_state_dict(state)
    meta = {"soup": list(args.checkpoints), "soup_weights": weights or [1.0] * len(ckpts)}
    save_encoder(args.out, model, features, meta=meta)
    print(f"{args.out}: the {'weighted ' if weights else ''}mean of {len(ckpts)} checkpoints")


if __name__ == "__main__":
    main()
