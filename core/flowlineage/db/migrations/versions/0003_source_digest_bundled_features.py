"""the run's source digest; a run with bundled feature values keeps all of them in its bundle

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

import flowlineage.db.schema
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BUNDLE = "bundle"
_JSON = flowlineage.db.schema.JSONType
_features = sa.table("run_feature_value", sa.column("run_id", sa.Integer),
                     sa.column("name", sa.String), sa.column("value", _JSON))


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_digest", sa.String(length=32), nullable=True))
    _fold_into_bundles()


def _fold_into_bundles() -> None:
    """Values kept apart from a run's bundle (e.g. the queried metrics of a trace task) move
    into it: one metrics row per run, which ``features__<name>`` lookups also search. A value
    of its own won over a bundled one before, so it overwrites it."""
    t = _features
    bundled = sa.select(t.c.run_id).where(t.c.name == BUNDLE)
    conn = op.get_bind()
    rows = conn.execute(sa.select(t.c.run_id, t.c.name, t.c.value)
                        .where(t.c.run_id.in_(bundled))
                        .order_by(t.c.run_id, t.c.name == BUNDLE)).all()
    merged = []
    for run_id, group in groupby(rows, key=itemgetter(0)):
        values = list(group)
        bundle = dict(values[-1][2])  # ordered last: the bundle itself
        if len(values) > 1:
            bundle.update((name, value) for _, name, value in values[:-1])
            merged.append({"rid": run_id, "merged": bundle})
    if not merged:
        return
    conn.execute(t.update().where(t.c.run_id == sa.bindparam("rid"), t.c.name == BUNDLE)
                 .values(value=sa.bindparam("merged", type_=_JSON)),
                 merged)
    conn.execute(t.delete().where(t.c.name != BUNDLE, t.c.run_id.in_(bundled)))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("source_digest")
