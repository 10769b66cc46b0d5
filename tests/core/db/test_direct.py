"""Statements sent straight to the driver (``db.direct``) inside bare write transactions,
on SQLite and PostgreSQL: binds, defaults, RETURNING, errors, joining an open transaction."""

from __future__ import annotations

import pytest
from flowlineage.db import tables
from flowlineage.db.direct import fetch, send_many
from flowlineage.db.engine import Instance
from sqlalchemy import bindparam, exc, func, insert, select

_T = tables.ulabel


def _names(inst: Instance) -> list[str]:
    with inst.connection() as conn:
        return list(conn.execute(select(_T.c.name).order_by(_T.c.name)).scalars())


def test_executemany_fills_defaults_and_fetch_reads_literal_binds(any_instance: Instance) -> None:
    with any_instance.write_connection() as conn:
        send_many(conn, insert(_T), [{"uid": f"u{i:07d}", "name": f"label {i}"}
                                     for i in range(3)])
        one = fetch(conn, insert(_T).returning(_T.c.id, _T.c.name),
                    {"uid": "u9999999", "name": "returned"}, ("uid", "name"))
        stmt = select(_T.c.name).where(_T.c.name == bindparam("name"), _T.c.id > 0)
        found = fetch(conn, stmt, {"name": "label 1"})
    assert [name for _, name in one] == ["returned"] and isinstance(one[0][0], int)
    assert found == [("label 1",)]
    assert _names(any_instance) == ["label 0", "label 1", "label 2", "returned"]
    with any_instance.connection() as conn:
        stamps = conn.execute(select(func.count()).where(_T.c.created_at.is_not(None))
                              .select_from(_T)).scalar_one()
    assert stamps == 4  # the Python-side default, evaluated for every row


def test_a_driver_error_is_sqlalchemys_and_rolls_the_transaction_back(
        any_instance: Instance) -> None:
    with pytest.raises(exc.IntegrityError):
        with any_instance.write_connection() as conn:
            send_many(conn, insert(_T), [{"uid": "a0000001", "name": "kept?"}])
            send_many(conn, insert(_T), [{"uid": "a0000002", "name": "twice"},
                                         {"uid": "a0000003", "name": "twice"}])
    assert _names(any_instance) == []


def test_a_bare_transaction_joins_an_open_write(any_instance: Instance) -> None:
    with pytest.raises(RuntimeError), any_instance.write() as s:
        with any_instance.write_connection() as conn:
            assert conn is s.connection()
            send_many(conn, insert(_T), [{"uid": "b0000001", "name": "inner"}])
        raise RuntimeError("the outer transaction fails")
    assert _names(any_instance) == []  # rolled back with the outer one
    with any_instance.write():
        with any_instance.write_connection() as conn:
            send_many(conn, insert(_T), [{"uid": "b0000002", "name": "inner"}])
    assert _names(any_instance) == ["inner"]
