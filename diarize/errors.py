"""Exceptions raised by the library. The CLI turns them into one-line messages."""

from __future__ import annotations

from pathlib import Path


class DiarizeError(Exception):
    """Base class of every error the library raises on purpose."""


class AudioError(DiarizeError):
    """An input file could not be read as audio, or holds too little of it."""


class RTTMError(DiarizeError):
    """An RTTM or UEM file is malformed."""


class ModelError(DiarizeError):
    """A model checkpoint is missing or unusable."""


class ConfigError(DiarizeError):
    """A configuration file or option is invalid."""


class MissingExtraError(DiarizeError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it.

    Also an ``ImportError``, so code that tolerates a missing package keeps doing so."""


#: The optional dependencies of each extra (pyproject.toml), by the module that is imported.
EXTRAS = {
    "torch": "train",
    "onnx": "train",
    "av": "media",
    "pyannote.core": "score",
    "pyannote.metrics": "score",
    "matplotlib": "plot",
}


def require(module: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported; ``what`` says
    what needs it ("diarize train", "reading .m4a files", ...)."""
    import importlib.util
    import sys

    if module in sys.modules:  # imported already, or blocked (None)
        found = sys.modules[module] is not None
    else:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing
            found = False
    if not found:
        extra = EXTRAS.get(module, module)
        raise MissingExtraError(
            f"{what} needs {module}, which this installation lacks: "
            f'pip install -e ".[{extra}]" (the {extra} extra) in the diarize folder'
        )


def read_text(path: str | Path, error: type[DiarizeError]) -> str:
    """A UTF-8 text file (a leading byte-order mark is dropped); a file that cannot be read
    raises ``error`` with a one-line reason."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
