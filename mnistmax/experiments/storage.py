"""Where a study lives, and keeping its workers honest.

`storage_url` / `check_storage` read the URL without touching anything; `open_storage` opens
it (SQLite and journal files are created here, after every check has passed). A worker beats
while it runs a trial: RDB storages (SQLite, PostgreSQL, ...) use Optuna's own heartbeat,
journal files a `heartbeat` system attribute; a trial whose beats stop for `grace` seconds is
failed and retried by whichever worker looks next (`fail_stale`). `claim_lock` serialises
the claiming of trials among the processes of one machine for file-based storages: SQLite
reads and updates a waiting trial in two steps, so without the lock two processes could both
take the same one (PostgreSQL locks the row itself).

A storage URL may hold a password (postgresql://user:PW@host/db, ?password=PW): what is shown or
written (output, error lines, leaderboard.json) goes through `shown` / `masked`, and workers
started here read the URL from $MNISTMAX_STORAGE_URL, not from their (world-readable) command line."""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import re
import threading
import time
import warnings
from pathlib import Path

from mnistmax.errors import ConfigError, MnistmaxError, RunError

HEARTBEAT_ATTR = "mnistmax:heartbeat"  # journal storages: the time of a trial's last beat
STORAGE_ENV = "MNISTMAX_STORAGE_URL"  # the storage, off the command line (a password is not shown by `ps`)
HIDDEN = "***"
_USER_PASSWORD = re.compile(r"(://[^:/?#@\s]*:)[^?\s]*@")  # ://user:PASSWORD@ (to the last @ before ?)
_SECRET_KEY = r"(?:ssl)?(?:password|passwd|pwd)|secret|token|access_token|api_?key"
_SECRET_PARAM = re.compile(rf"((?:^|(?<=[?&;\s]))(?:{_SECRET_KEY})=)('[^']*'|[^&;#\s'\"]*)", re.IGNORECASE)
_SHORTEST_SECRET = 4  # a shorter password is hidden inside its URL only (not every "ab" of a message)


def storage_url(spec_storage: str | None, cli_storage: str | None, output_dir: str | Path) -> str:
    """--storage, else $MNISTMAX_STORAGE_URL, else the file's storage:, else SQLite next to the runs
    (an absolute path)."""
    url = cli_storage or os.environ.get(STORAGE_ENV, "").strip() or spec_storage
    return url if url else f"sqlite:///{(Path(output_dir) / 'optuna.db').resolve()}"


def _hide(text: str) -> str:
    """Every ://user:PASSWORD@ and password=/token=... value in `text`, as ***."""
    return _SECRET_PARAM.sub(rf"\g<1>{HIDDEN}", _USER_PASSWORD.sub(rf"\g<1>{HIDDEN}@", text))


def shown(url: str) -> str:
    """`url` fit to print or write down: its password (and password=/token=... query values) as ***.
    SQLAlchemy renders a URL it parses; journal:PATH and what it cannot parse are masked as text.
    A URL without a password comes back unchanged."""
    text = url
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.password is not None:
            text = parsed.render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL (journal:PATH, garbage) or no SQLAlchemy: the text rules
        pass
    return _hide(text)


def secrets(url: str | None) -> set[str]:
    """The passwords (and secret query values) in `url`, as written and decoded."""
    if not url:
        return set()
    found = {m.group(0)[len(m.group(1)):-1] for m in _USER_PASSWORD.finditer(url)}
    found |= {m.group(2).strip("'") for m in _SECRET_PARAM.finditer(url)}
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        found.add(parsed.password or "")
        found |= {v for k, v in parsed.query.items() if re.fullmatch(_SECRET_KEY, k, re.IGNORECASE)
                  for v in ([v] if isinstance(v, str) else v)}
    except Exception:
        pass
    return {s for s in found if s and s != HIDDEN}


def masked(text: str, url: str | None = None) -> str:
    """`text` (a message, a driver's error) with `url` shown masked and its passwords as ***, and any
    other ://user:PASSWORD@ or password=... in it too."""
    if url:
        text = text.replace(url, shown(url))
    for secret in sorted(secrets(url), key=len, reverse=True):
        if len(secret) >= _SHORTEST_SECRET:
            text = text.replace(secret, HIDDEN)
    return _hide(text)


def _chain(exc: BaseException) -> str:
    """The text of `exc` and of the exceptions a traceback would print with it."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(f"{exc!s} {exc.args!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


@contextlib.contextmanager
def secret_kept(url: str | None):
    """No password of `url` leaves in an error: one that would quote it (its message, or one of the
    exceptions chained to it) is raised again masked, our errors as themselves, others as a one-line
    RunError naming their type, with the chain cut."""
    try:
        yield
    except Exception as exc:
        text = _chain(exc)
        if masked(text, url) == text:
            raise
        line = masked(str(exc), url)
        if isinstance(exc, MnistmaxError):
            clean = copy.copy(exc)
            clean.args = (line,)
            clean.__traceback__ = None
        else:
            first = (line.strip().splitlines() or [""])[0]
            clean = RunError(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
        raise clean from None


def journal_path(url: str) -> Path | None:
    return Path(url.removeprefix("journal:")) if url.startswith("journal:") else None


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (None for :memory: and every other URL)."""
    if not url.startswith("sqlite:///"):
        return None
    db = url.removeprefix("sqlite:///").split("?")[0]
    return Path(db) if db and db != ":memory:" else None


def check_storage(url: str) -> None:
    """One line (ConfigError) when `url` is not a storage this machine can open; writes nothing."""
    if url.startswith("journal:"):
        if not url.removeprefix("journal:"):
            raise ConfigError("storage 'journal:': give the journal file, journal:PATH")
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise ConfigError(f"storage {shown(url)!r}: not a SQLAlchemy URL (sqlite:///PATH, postgresql://USER@HOST/DB) "
                          "or journal:PATH") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        from mnistmax.errors import install_hint

        hint = f" ({install_hint('postgres')})" if url.startswith("postgres") else ""
        raise ConfigError(f"storage {shown(url)!r} needs the database driver {exc.name or dialect.driver!r}, "
                          f"which is not installed{hint}") from None


def open_storage(url: str, interval: int, grace: int, on_stale):
    """The Optuna storage at `url` with heartbeats; `on_stale(study, trial)` runs for each trial
    found stale (RDB: by Optuna; journal: by `fail_stale`). Unreachable: one line, exit 2."""
    import optuna

    check_storage(url)
    journal = journal_path(url)
    try:
        if journal is not None:
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            journal.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(journal)))
        db = sqlite_path(url)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            connect = {"timeout": 60}  # seconds a busy SQLite file is waited for
        else:
            connect = {"connect_timeout": 10} if url.startswith("postgres") else {}
        with quiet_optuna_warnings(), storage_lock(url):  # one process creates a fresh schema
            if db is not None:
                write_ahead_log(db)
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect},
                                                 heartbeat_interval=interval, grace_period=grace,
                                                 **{_stale_argument(): on_stale})
        if db is not None:
            sync_at_checkpoints(storage.engine)
        return storage
    except ConfigError:
        raise
    except Exception as exc:  # sqlalchemy's OperationalError, a refused connection, a locked file, ...
        reason = (masked(str(exc), url).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"storage {shown(url)!r} cannot be opened: {reason}") from None


def write_ahead_log(db: Path) -> None:
    """SQLite's WAL journal (kept in the file): readers and the writer of a study's workers stop
    blocking each other. Local files only, as the claim lock is."""
    import sqlite3

    connection = sqlite3.connect(db, timeout=60)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def sync_at_checkpoints(engine) -> None:
    """synchronous=NORMAL on every connection: with WAL, safe against a killed process (a power cut
    may lose the last trials), and no disk flush per commit (a study makes many small commits)."""
    from sqlalchemy import event

    event.listen(engine, "connect", lambda connection, record: connection.execute("PRAGMA synchronous=NORMAL"))
    engine.dispose()  # connections opened while the schema was made reconnect with it


def _stale_argument() -> str:
    """RDBStorage's name for the stale-trial callback (renamed in Optuna 4.9)."""
    import optuna

    params = inspect.signature(optuna.storages.RDBStorage).parameters
    return "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"


def retry_callback(retries: int):
    """Optuna's retry of a stale trial: a WAITING copy with the same params and user attrs."""
    import optuna

    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with quiet_optuna_warnings():
        return cls(max_retry=retries)


@contextlib.contextmanager
def quiet_optuna_warnings():
    """Optuna marks heartbeats, the retry callback and the matplotlib plots experimental."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@contextlib.contextmanager
def storage_lock(url: str):
    """An exclusive lock on `<file>.mnistmax-lock` for SQLite and journal storages (POSIX); nothing otherwise."""
    target = sqlite_path(url) or journal_path(url)
    if target is None or os.name != "posix":
        yield
        return
    import fcntl

    with open(f"{target}.mnistmax-lock", "a") as lock:  # not <file>.lock: the journal backend takes that
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def has_rdb_heartbeat(storage) -> bool:
    import optuna

    return isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None


def beat(storage, trial_id: int) -> None:
    if has_rdb_heartbeat(storage):
        storage.record_heartbeat(trial_id)
    else:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())


class Heartbeat:
    """`with Heartbeat(storage, trial_id, interval):` beats every `interval` s from a thread."""

    def __init__(self, storage, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a busy store must not kill the training
                beat(self.storage, self.trial_id)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def fail_stale(study, storage, grace: int, on_stale) -> None:
    """Fail the running trials whose worker stopped beating more than `grace` s ago, and hand each
    to `on_stale` (the retry); RDB storages do this through Optuna's heartbeat."""
    import optuna
    from optuna.trial import TrialState

    if has_rdb_heartbeat(storage):
        with quiet_optuna_warnings():
            optuna.storages.fail_stale_trials(study)
        return
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.system_attrs.get(HEARTBEAT_ATTR, trial.datetime_start.timestamp() if trial.datetime_start else now)
        if now - last <= grace:
            continue
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                on_stale(study, storage.get_trial(trial._trial_id))
