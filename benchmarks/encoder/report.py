"""Render sweep curves (curves.jsonl from benchmarks.encoder.sweep) as a markdown table.

python -m benchmarks.encoder.report benchmarks/reports/encoder/sweep1-curves.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(path: Path, steps=(500, 1000, 2000)) -> str:
    curves: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        curves.setdefault(rec["name"], []).append(rec)
    head = "| recipe | " + " | ".join(f"step {s}: test 1.5 / 3 s" for s in steps)
    head += " | last step | last: test 1.5 / 3 s (val 1.5 s) |"
    lines = [head, "|---|" + "---|" * (len(steps) + 2)]
    for name, recs in curves.items():
        by_step = {int(r["step"]): r for r in recs}
        cells = []
        for s in steps:
            r = by_step.get(s)
            cells.append(f"{r['test_eer_1.5']:.1f} / {r['test_eer_3']:.1f}" if r else "-")
        last = recs[-1]
        cells.append(str(int(last["step"])))
        cells.append(
            f"{last['test_eer_1.5']:.1f} / {last['test_eer_3']:.1f} ({last['val_eer_1.5']:.1f})"
        )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(table(Path(arg)))
