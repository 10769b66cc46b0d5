"""The real test servers (tests/servers.py, tests/conftest.py) work as promised."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from servers import PostgresServer, S3Server, S3ServerError, find_pg_bindir
from sqlalchemy import Engine, create_engine, text

if TYPE_CHECKING:
    from s3fs import S3FileSystem

MiB = 2**20


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# --- PostgreSQL --------------------------------------------------------------------------


def test_find_pg_bindir_resolves_a_complete_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWLINEAGE_PG_BINDIR", raising=False)
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries on this machine")
    assert bindir.is_absolute()
    for program in ("initdb", "pg_ctl", "postgres"):
        assert os.access(bindir / program, os.X_OK), program
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None:  # e.g. /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl
        assert bindir == Path(pg_ctl).resolve().parent


def test_find_pg_bindir_env_override_is_authoritative(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLOWLINEAGE_PG_BINDIR", raising=False)
    real = find_pg_bindir()
    monkeypatch.setenv("FLOWLINEAGE_PG_BINDIR", str(tmp_path))
    assert find_pg_bindir() is None
    if real is not None:
        monkeypatch.setenv("FLOWLINEAGE_PG_BINDIR", str(real))
        assert find_pg_bindir() == real


@pytest.mark.postgres
def test_postgres_select_one(postgres_url: str, postgres_server: PostgresServer) -> None:
    assert postgres_url.startswith(
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/t_"
    )
    dbname = postgres_url.rsplit("/", 1)[1]
    with _engine(postgres_url) as engine:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert conn.execute(text("SELECT current_database()")).scalar_one() == dbname
            assert conn.dialect.driver == "psycopg"


@pytest.mark.postgres
def test_postgres_table_round_trip(postgres_url: str) -> None:
    with _engine(postgres_url) as engine:
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE artifact (id serial PRIMARY KEY, key text UNIQUE, size bigint)")
            )
            conn.execute(
                text("INSERT INTO artifact (key, size) VALUES (:key, :size)"),
                [{"key": "raw/a.csv", "size": 10}, {"key": "raw/b.csv", "size": 2**40}],
            )
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, size FROM artifact ORDER BY key")).all()
            assert [tuple(row) for row in rows] == [("raw/a.csv", 10), ("raw/b.csv", 2**40)]
            assert conn.execute(text("SHOW server_encoding")).scalar_one() == "UTF8"


@pytest.mark.postgres
def test_postgres_each_test_gets_an_empty_database(postgres_url: str) -> None:
    with _engine(postgres_url) as engine:
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
            ).scalar_one()
            assert tables == 0


@pytest.mark.postgres
def test_postgres_session_server_restart_keeps_data(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    port = postgres_server.port
    with _engine(postgres_url) as engine:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v text)"))
            conn.execute(text("INSERT INTO t VALUES ('kept')"))
        engine.dispose()  # pooled connections do not survive a restart

        postgres_server.restart()

        assert postgres_server.running and postgres_server.port == port
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM t")).scalar_one() == "kept"


@pytest.mark.postgres
def test_postgres_stop_start_and_crash_keep_port_and_data(postgres_server: PostgresServer) -> None:
    with PostgresServer(postgres_server.bindir, crash_safe=True) as server:
        port, data_dir = server.port, server.data_dir
        url = server.create_database("t_restart")
        with _engine(url) as engine:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE t (v text)"))
                conn.execute(text("INSERT INTO t VALUES ('before stop')"))

        server.stop()
        assert not server.running
        assert _refuses_connections(port)
        server.start()
        assert (server.port, server.data_dir) == (port, data_dir)

        with _engine(url) as engine:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES ('before crash')"))
        server.stop(mode="immediate")  # a crash right after the commit
        server.start()
        with _engine(url) as engine:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT v FROM t ORDER BY v")).scalars().all()
        assert rows == ["before crash", "before stop"]
        server.drop_database("t_restart")
    assert not server.running
    assert not data_dir.parent.exists()


# --- S3 ----------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_put_get_ls_round_trip(s3_fs: S3FileSystem, s3_bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_bytes(b"gene,count\nA,1\n")
    s3_fs.put_file(str(source), f"{s3_bucket}/raw/counts.csv")
    s3_fs.pipe(f"{s3_bucket}/raw/notes.txt", b"hello")

    assert sorted(s3_fs.ls(f"{s3_bucket}/raw")) == [
        f"{s3_bucket}/raw/counts.csv",
        f"{s3_bucket}/raw/notes.txt",
    ]
    target = tmp_path / "back.csv"
    s3_fs.get_file(f"{s3_bucket}/raw/counts.csv", str(target))
    assert target.read_bytes() == source.read_bytes()
    assert s3_fs.cat(f"{s3_bucket}/raw/notes.txt") == b"hello"
    info = s3_fs.info(f"{s3_bucket}/raw/counts.csv")
    assert info["size"] == source.stat().st_size
    assert info["ETag"] == f'"{hashlib.md5(source.read_bytes()).hexdigest()}"'


@pytest.mark.s3
def test_s3_buckets_are_fresh(s3_fs: S3FileSystem, s3_bucket: str) -> None:
    assert s3_fs.exists(s3_bucket)
    assert s3_fs.ls(s3_bucket) == []


@pytest.mark.s3
def test_s3_multipart_upload_etag(s3_fs: S3FileSystem, s3_bucket: str, tmp_path: Path) -> None:
    chunk = 5 * MiB
    data = os.urandom(11 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    s3_fs.put_file(str(source), f"{s3_bucket}/big.bin", chunksize=chunk)

    info = s3_fs.info(f"{s3_bucket}/big.bin")
    assert info["size"] == len(data)
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert len(parts) == 3
    part_md5s = b"".join(hashlib.md5(part).digest() for part in parts)
    assert info["ETag"] == f'"{hashlib.md5(part_md5s).hexdigest()}-3"'
    assert s3_fs.cat(f"{s3_bucket}/big.bin") == data


@pytest.mark.s3
def test_s3_server_restart_same_port_keeps_objects(s3_server: S3Server) -> None:
    with S3Server() as server:
        port, endpoint = server.port, server.endpoint_url
        assert port != s3_server.port
        bucket = server.create_bucket("fl-test-restart")
        fs = server.filesystem()
        try:
            fs.pipe(f"{bucket}/before", b"1")

            server.stop()
            assert not server.running
            assert _refuses_connections(port)

            server.start()
            assert (server.port, server.endpoint_url) == (port, endpoint)
            assert fs.cat(f"{bucket}/before") == b"1"
            fs.pipe(f"{bucket}/after", b"2")

            server.restart()
            assert server.port == port
            assert sorted(fs.ls(bucket)) == [f"{bucket}/after", f"{bucket}/before"]
        finally:
            S3Server.close_filesystem(fs)
    assert _refuses_connections(port)
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"  # the session server's env stays


@pytest.mark.s3
def test_s3_server_start_on_busy_port_fails_instead_of_hanging(s3_server: S3Server) -> None:
    with S3Server() as server:
        port = server.port
        server.stop()
        with socket.socket() as blocker:
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind(("127.0.0.1", port))
            blocker.listen()
            with pytest.raises(S3ServerError, match=f"port {port}"):
                server.start(port_wait=0.3)
        server.start()
        assert server.port == port


# --- a test that leaves the session servers stopped does not break the next ones ----------


@pytest.mark.postgres
@pytest.mark.s3
def test_leaving_the_session_servers_stopped(
    postgres_server: PostgresServer, postgres_url: str, s3_server: S3Server, s3_bucket: str
) -> None:
    postgres_server.stop()
    s3_server.stop()
    assert not postgres_server.running and not s3_server.running


@pytest.mark.postgres
@pytest.mark.s3
def test_session_servers_are_back_after_the_previous_test(
    postgres_url: str, s3_fs: S3FileSystem, s3_bucket: str
) -> None:
    with _engine(postgres_url) as engine:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    s3_fs.pipe(f"{s3_bucket}/x", b"x")
    assert s3_fs.cat(f"{s3_bucket}/x") == b"x"
