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


class WriteError(RunError):
    """A file the machine would not let mnistmax write (no space left, no permission, a read-only
    filesystem, a file where a folder should be): exit code 1, one line naming the file meant, never
    the temporary name it was being written under. `errno` is the system's error number."""

    def __init__(self, path, exc: OSError):
        self.path, self.errno = path, exc.errno
        super().__init__(f"could not write {path}: {exc.strerror or exc or type(exc).__name__}")


class MissingExtraError(ConfigError):
    """A feature whose optional packages (a pyproject extra) are not installed (exit code 2: the
    command asked for something this install cannot do; the line says what to install)."""


def install_hint(extra: str) -> str:
    """How to install the extra `extra`: its packages by name (always works, published or not),
    and the extra from a checkout. Read from the installed metadata, so pyproject is the one place."""
    from importlib import metadata

    try:
        wanted = [r.split(";")[0].strip() for r in metadata.requires("mnistmax") or []
                  if f'extra == "{extra}"' in r.replace("'", '"')]
    except metadata.PackageNotFoundError:
        wanted = []
    named = f"pip install {' '.join(repr(w) if any(c in w for c in '<>=[') else w for w in wanted)}; " if wanted else ""
    return f"{named}from a checkout: pip install -e '.[{extra}]'"


def require_extra(module: str, extra: str, feature: str):
    """`module` imported, or one MissingExtraError line naming the feature and how to install it."""
    import sys

    try:
        __import__(module)  # the import statement's path (importlib.import_module bypasses builtins.__import__)
        return sys.modules[module]
    except ImportError:
        raise MissingExtraError(f"{feature} needs {module.split('.')[0]}, which is not installed "
                                f"(the {extra} extra): {install_hint(extra)}") from None
