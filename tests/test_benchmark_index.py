"""benchmarks/README.md indexes every report and every benchmark script: no orphans."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
INDEX = BENCH / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _links() -> set[Path]:
    return {(BENCH / target).resolve() for target in LINK.findall(INDEX.read_text())}


def _is_script(path: Path) -> bool:
    text = path.read_text()
    return "__main__" in text or re.search(r"^def main\(", text, re.M) is not None


def _mentions(path: Path) -> list[str]:
    """The ways the index may name a script: its module command or its path."""
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] in ("__init__", "__main__"):
        parts = parts[:-1]
    return [".".join(parts), rel.as_posix()]


def test_every_report_is_linked():
    links = _links()
    reports = sorted((BENCH / "reports").rglob("*.md"))
    assert reports, "no reports found under benchmarks/reports"
    orphans = [str(p.relative_to(ROOT)) for p in reports if p.resolve() not in links]
    # CROSSDOMAIN.md is linked even while it is being regenerated (absent from the tree).
    assert not orphans, f"reports not linked from benchmarks/README.md: {orphans}"


def test_no_report_outside_reports():
    stray = [
        str(p.relative_to(ROOT))
        for p in BENCH.rglob("*.md")
        if p != INDEX and (BENCH / "reports") not in p.parents
    ]
    assert not stray, f"reports outside benchmarks/reports: {stray}"


def test_every_link_resolves_or_is_crossdomain():
    missing = [
        str(p.relative_to(ROOT)) for p in _links() if not p.exists() and p.name != "CROSSDOMAIN.md"
    ]
    assert not missing, f"benchmarks/README.md links to missing files: {missing}"


def test_every_script_is_mentioned():
    text = INDEX.read_text()
    scripts = [p for p in sorted(BENCH.rglob("*.py")) if _is_script(p)]
    assert scripts
    orphans = [
        str(p.relative_to(ROOT))
        for p in scripts
        if not any(re.search(re.escape(name) + r"(?![\w.])", text) for name in _mentions(p))
    ]
    assert not orphans, f"scripts not mentioned in benchmarks/README.md: {orphans}"
