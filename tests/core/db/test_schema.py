"""The models and the shipped Alembic migrations agree, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flowlineage.db import migrations
from flowlineage.db.engine import Instance
from flowlineage.db.schema import Base


def test_one_migration_head_and_it_is_the_fast_path_constant() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    heads = script.get_heads()
    assert heads == [migrations.HEAD]


def test_models_and_migrations_agree(any_instance: Instance) -> None:
    with any_instance.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
        assert migrations.current_revision(conn) == migrations.HEAD
    assert diff == []


def test_constraint_names_follow_the_convention(instance: Instance) -> None:
    from sqlalchemy import inspect

    insp = inspect(instance.engine)
    uniques = {u["name"] for u in insp.get_unique_constraints("run")}
    assert "uq_run_reference_type_reference" in uniques
    fks = {fk["name"] for fk in insp.get_foreign_keys("artifact")}
    assert "fk_artifact_run_id_run" in fks
    assert "uq_transform_reference_type_reference" in {
        u["name"] for u in insp.get_unique_constraints("transform")
    }


def test_import_is_light() -> None:
    code = (
        "import sys, flowlineage\n"
        "heavy = {'sqlalchemy', 'pandas', 'anndata', 's3fs', 'prefect', 'snakemake', 'alembic',"
        " 'pluggy', 'nextflow'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
