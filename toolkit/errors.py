"""Errors a user can act on. The command-line tools print their message, never a traceback."""


class ToolkitError(Exception):
    """Base class: something the user can fix (bad input, missing file, bad override)."""


class ConfigError(ToolkitError):
    """An unknown task, an unknown override key, or a value of the wrong type."""


class DataNotFoundError(ToolkitError):
    """A data set is not where the toolkit looks for it."""


class InputError(ToolkitError):
    """An input (image, audio, model file) that cannot be used as it is."""
