"""locations of artifacts, result edges between runs, the run's plan

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import socket

import flowlineage.db.schema
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("mtime", sa.Float(), nullable=True),
        sa.Column("recorded_at", flowlineage.db.schema.UTCDateTime(timezone=True),
                  nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifact.id"],
                                name=op.f("fk_artifact_location_artifact_id_artifact"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"],
                                name=op.f("fk_artifact_location_run_id_run"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_location")),
        sa.UniqueConstraint("path", "host", "artifact_id",
                            name=op.f("uq_artifact_location_path_host_artifact_id")),
    )
    op.create_index(op.f("ix_artifact_location_artifact_id"), "artifact_location",
                    ["artifact_id"], unique=False)
    op.create_index(op.f("ix_artifact_location_run_id"), "artifact_location", ["run_id"],
                    unique=False)
    op.create_table(
        "run_input_run",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("input_run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["input_run_id"], ["run.id"],
                                name=op.f("fk_run_input_run_input_run_id_run"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_run_input_run_run_id_run"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "input_run_id", name=op.f("pk_run_input_run")),
    )
    op.create_index(op.f("ix_run_input_run_input_run_id"), "run_input_run", ["input_run_id"],
                    unique=False)
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_run_plan_id_artifact"), "artifact",
                                    ["plan_id"], ["id"], use_alter=True)
    _backfill_locations()


def _backfill_locations() -> None:
    """Existing artifacts get a location where their bytes are: root plus storage key (local
    paths on this host; URIs for remote roots). The creating run wrote in-place files."""
    host = socket.gethostname()
    op.execute(sa.text(
        "INSERT INTO artifact_location (artifact_id, host, path, run_id, size, recorded_at) "
        "SELECT a.id, CASE WHEN s.type = 'local' THEN :host END, "
        "s.root || '/' || a._storage_key, "
        "CASE WHEN a._key_is_virtual THEN NULL ELSE a.run_id END, a.size, a.created_at "
        "FROM artifact a JOIN storage s ON s.id = a.storage_id"
    ).bindparams(host=host))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_run_plan_id_artifact"), type_="foreignkey")
        batch_op.drop_column("plan_id")
    op.drop_index(op.f("ix_run_input_run_input_run_id"), table_name="run_input_run")
    op.drop_table("run_input_run")
    op.drop_index(op.f("ix_artifact_location_run_id"), table_name="artifact_location")
    op.drop_index(op.f("ix_artifact_location_artifact_id"), table_name="artifact_location")
    op.drop_table("artifact_location")
