"""Exceptions raised by the library. The CLI turns them into one-line messages."""


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
