"""Connecting: environment defaults, SQLite pragmas, errors."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import ConfigurationError, NotConnected
from sqlalchemy import text


def test_embedded_default_lives_under_home(fl_home: Path) -> None:
    inst = fl.connect()
    try:
        assert inst.settings.db_url == f"sqlite:///{fl_home.resolve() / 'lineage.db'}"
        assert (fl_home / "lineage.db").exists()
        assert inst.storage_root == str((fl_home / "storage").resolve())
        with inst.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        fl.disconnect()


def test_env_overrides(fl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLINEAGE_DB", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("FLOWLINEAGE_STORAGE", str(tmp_path / "store"))
    inst = fl.connect()
    try:
        assert (tmp_path / "other.db").exists()
        assert inst.storage_root == str(tmp_path / "store")
    finally:
        fl.disconnect()
    explicit = fl.connect(f"sqlite:///{tmp_path / 'arg.db'}", storage=str(tmp_path / "s2"))
    try:
        assert explicit.storage_root == str(tmp_path / "s2")
    finally:
        fl.disconnect()


def test_not_connected_says_what_to_do() -> None:
    fl.disconnect()
    with pytest.raises(NotConnected, match="connect"):
        fl.Run.filter().count()


def test_bad_url_is_a_configuration_error(fl_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="unsupported database"):
        fl.connect("mysql://x/y")


def test_reconnect_is_cheap_and_keeps_data(instance: Instance) -> None:
    tf = fl.Transform(key="k.py", type="script").save()
    again = fl.connect()
    assert again is not instance
    assert fl.Transform.get(tf.id).key == "k.py"
