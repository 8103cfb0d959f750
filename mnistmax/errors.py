"""Errors that the CLI turns into one line and a non-zero exit code."""


class MnistmaxError(Exception):
    """A problem the user can fix; printed as one line, exit code `exit_code`."""

    exit_code = 1


class ConfigError(MnistmaxError):
    """A bad config file, key, type or value (exit code 2)."""

    exit_code = 2


class DataError(MnistmaxError):
    """A data source that cannot be read (missing folder, malformed IDX file, ...) or does not fit the
    task (no labels for a classifier): exit code 2, like a bad config."""

    exit_code = 2


class RunError(MnistmaxError):
    """A run directory or checkpoint that cannot be used."""
