"""MappedCollection: rows of several .h5ad files read lazily with h5py, joins, labels."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import anndata as ad
import flowlineage as fl
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from flowlineage.collection.mapped import MappedCollection
from flowlineage.db.engine import Instance
from flowlineage.errors import FlowlineageError, ValidationError

VARS = {"a": ["g0", "g1", "g2", "g3"], "b": ["g3", "g2", "g4"], "c": ["g2", "g5", "g3"]}
CELL_TYPES: dict[str, list[str | None]] = {
    "a": ["T", "B", "T", "NK"], "b": ["B", None, "mono"], "c": ["unknown", "T"]}


def _adata(name: str, sparse: bool, seed: int) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    n_obs, names = len(CELL_TYPES[name]), VARS[name]
    dense = rng.integers(0, 5, size=(n_obs, len(names))).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(CELL_TYPES[name])},
        index=[f"{name}{i}" for i in range(n_obs)],
    )
    if name != "c":
        obs["batch"] = pd.Categorical([name] * n_obs)
    obs["n_genes"] = pd.array([None] + list(range(1, n_obs)), dtype="Int64")
    adata = ad.AnnData(
        X=sp.csr_matrix(dense) if sparse else dense,
        obs=obs, var=pd.DataFrame(index=names),
    )
    adata.layers["counts"] = sp.csr_matrix(dense * 10) if sparse else dense * 10
    adata.obsm["pca"] = rng.normal(size=(n_obs, 2))
    return adata


@pytest.fixture
def h5ad_files(tmp_path: Path) -> list[Path]:
    """Three small files: dense X, then CSR X; different (overlapping) variables."""
    paths = []
    for seed, (name, sparse) in enumerate([("a", False), ("b", True), ("c", True)]):
        path = tmp_path / f"{name}.h5ad"
        _adata(name, sparse, seed).write_h5ad(path)
        paths.append(path)
    return paths


def _expected(paths: list[Path], joint: list[str], layer: str = "X") -> np.ndarray:
    """Rows of every file as anndata reads them, columns reindexed to ``joint`` (0-filled)."""
    blocks = []
    for path in paths:
        adata = ad.read_h5ad(path)
        matrix = adata.X if layer == "X" else adata.layers[layer]
        dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
        frame = pd.DataFrame(dense, columns=list(adata.var_names))
        blocks.append(frame.reindex(columns=joint, fill_value=0).to_numpy())
    return np.vstack(blocks)


def test_inner_join_reads_dense_and_sparse_rows(h5ad_files: list[Path]) -> None:
    with MappedCollection(h5ad_files, obs_keys="cell_type") as ds:
        assert len(ds) == 9
        assert ds.original_shapes == [(4, 4), (3, 3), (2, 3)]
        assert ds.var_joint == ["g2", "g3"]  # shared variables, in the first file's order
        assert ds.shape == (9, 2)
        expected = _expected(h5ad_files, ["g2", "g3"])
        for i in range(len(ds)):
            item = ds[i]
            np.testing.assert_array_equal(item["X"], expected[i])
            assert item["X"].dtype == np.float32
        assert [ds[i]["_store_idx"] for i in range(9)] == [0, 0, 0, 0, 1, 1, 1, 2, 2]
        np.testing.assert_array_equal(ds[-1]["X"], expected[-1])
        with pytest.raises(IndexError):
            ds[9]


def test_outer_join_fills_missing_variables_with_zeros(h5ad_files: list[Path]) -> None:
    with MappedCollection(h5ad_files, layers_keys=["X", "counts"], join="outer",
                          dtype="float64") as ds:
        assert ds.var_joint == ["g0", "g1", "g2", "g3", "g4", "g5"]  # first appearance
        x = _expected(h5ad_files, ds.var_joint)
        counts = _expected(h5ad_files, ds.var_joint, layer="counts")
        for i in range(len(ds)):
            item = ds[i]
            assert item["X"].dtype == np.float64
            np.testing.assert_array_equal(item["X"], x[i])
            np.testing.assert_array_equal(item["counts"], counts[i])
        assert not ds[4]["X"][:2].any()  # file b has no g0, g1


def test_without_join_rows_keep_their_own_variables(h5ad_files: list[Path]) -> None:
    with MappedCollection(h5ad_files, join=None, obsm_keys="pca") as ds:
        assert ds.var_joint is None and ds.shape == (9, None)
        assert [len(ds[i]["X"]) for i in (0, 4, 8)] == [4, 3, 3]
        pca = np.vstack([ad.read_h5ad(p).obsm["pca"] for p in h5ad_files])
        for i in range(len(ds)):
            np.testing.assert_allclose(ds[i]["obsm_pca"], pca[i])


def test_identical_variables_need_no_join(tmp_path: Path) -> None:
    paths: list[Path] = []
    for name in ("a", "a2"):
        adata = _adata("a", sparse=name == "a2", seed=len(paths))
        adata.obs_names = [f"{name}_{i}" for i in range(adata.n_obs)]
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
        paths.append(tmp_path / f"{name}.h5ad")
    with MappedCollection(paths) as ds:
        assert ds.var_joint == VARS["a"]
        np.testing.assert_array_equal(ds[5]["X"], _expected(paths, VARS["a"])[5])


def test_labels_are_encoded_across_files(h5ad_files: list[Path]) -> None:
    with MappedCollection(h5ad_files, obs_keys=["cell_type", "batch"],
                          unknown_label={"cell_type": "unknown"}) as ds:
        assert ds.encoders["cell_type"] == {"unknown": -1, "B": 0, "NK": 1, "T": 2, "mono": 3}
        assert ds.encoders["batch"] == {"a": 0, "b": 1}
        cell_types = [ds[i]["cell_type"] for i in range(len(ds))]
        # missing value (None in file b) and unknown_label both encode to -1
        assert cell_types == [2, 0, 2, 1, 0, -1, 3, -1, 2]
        assert all(isinstance(v, int) for v in cell_types)
        # file c has no batch column: missing, -1
        assert [ds[i]["batch"] for i in range(len(ds))] == [0] * 4 + [1] * 3 + [-1] * 2


@pytest.mark.parametrize("cache_categories", [True, False])
def test_labels_without_encoding(h5ad_files: list[Path], cache_categories: bool) -> None:
    with MappedCollection(h5ad_files, obs_keys=["cell_type", "n_genes"],
                          encode_labels=["cell_type"], cache_categories=cache_categories) as ds:
        assert list(ds.encoders) == ["cell_type"]
        assert [ds[i]["n_genes"] for i in range(len(ds))] == [None, 1, 2, 3, None, 1, 2,
                                                             None, 1]
    with MappedCollection(h5ad_files, obs_keys="cell_type", encode_labels=False,
                          cache_categories=cache_categories) as ds:
        assert ds.encoders == {}
        assert [ds[i]["cell_type"] for i in range(len(ds))] == [
            "T", "B", "T", "NK", "B", None, "mono", "unknown", "T"]
        assert ds.get_merged_categories("cell_type") == ["B", "NK", "T", "mono", "unknown"]
        labels = ds.get_merged_labels("cell_type")
        assert labels.tolist() == ["T", "B", "T", "NK", "B", None, "mono", "unknown", "T"]
        weights = ds.get_label_weights("cell_type")
        assert weights.tolist() == [1 / 3, 1 / 2, 1 / 3, 1, 1 / 2, 1, 1, 1, 1 / 3]


def test_dataloader_style_batches_cover_every_row(h5ad_files: list[Path]) -> None:
    ds = MappedCollection(h5ad_files, obs_keys="cell_type", join="outer")
    expected = _expected(h5ad_files, ds.var_joint or [])
    order = np.random.default_rng(0).permutation(len(ds))
    seen_rows: list[int] = []
    seen_x: list[np.ndarray] = []
    for start in range(0, len(order), 4):  # what torch's DataLoader does with batch_size=4
        batch = [ds[int(i)] for i in order[start : start + 4]]
        x = np.stack([item["X"] for item in batch])
        y = np.array([item["cell_type"] for item in batch])
        assert x.shape == (len(batch), 6) and y.dtype.kind == "i"
        seen_rows.extend(order[start : start + 4].tolist())
        seen_x.append(x)
    np.testing.assert_array_equal(np.vstack(seen_x), expected[np.array(seen_rows)])
    ds.close()
    assert ds.closed
    with pytest.raises(FlowlineageError, match="closed"):
        ds[0]


_worker_ds: MappedCollection | None = None


def _init_worker(ds: MappedCollection) -> None:
    global _worker_ds
    _worker_ds = ds


def _worker_item(i: int) -> tuple[list[float], int, int]:
    assert _worker_ds is not None
    item = _worker_ds[i]
    return item["X"].tolist(), item["cell_type"], len(_worker_ds._handles)


def test_parallel_workers_open_their_own_handles(h5ad_files: list[Path]) -> None:
    ds = MappedCollection(h5ad_files, obs_keys="cell_type", parallel=True)
    assert ds._handles == {}  # closed once the metadata was read
    serial = [(ds[i]["X"].tolist(), ds[i]["cell_type"]) for i in range(len(ds))]
    clone = pickle.loads(pickle.dumps(ds))  # handles are not pickled
    assert clone._handles == {} and len(clone) == len(ds)
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(ds,)) as pool:
        results = list(pool.map(_worker_item, range(len(ds))))
    assert [(x, y) for x, y, _ in results] == serial
    assert all(n >= 1 for _, _, n in results)  # each worker opened files itself
    ds.close()


def test_invalid_arguments_and_files(h5ad_files: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="join"):
        MappedCollection(h5ad_files, join="left")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="encode_labels"):
        MappedCollection(h5ad_files, obs_keys="batch", encode_labels=["cell_type"])
    with pytest.raises(ValidationError, match="unknown_label"):
        MappedCollection(h5ad_files, obs_keys="batch", unknown_label={"cell_type": "x"})
    with pytest.raises(ValidationError, match="layers/spliced"):
        MappedCollection(h5ad_files, layers_keys="spliced")
    csc = _adata("a", sparse=False, seed=3)
    csc.X = sp.csc_matrix(csc.X)
    csc.write_h5ad(tmp_path / "csc.h5ad")
    with pytest.raises(ValidationError, match="csc_matrix"):
        MappedCollection([tmp_path / "csc.h5ad"])
    disjoint = ad.AnnData(np.ones((2, 2), dtype=np.float32),
                          var=pd.DataFrame(index=["x1", "x2"]))
    disjoint.write_h5ad(tmp_path / "disjoint.h5ad")
    with pytest.raises(ValidationError, match="share no variables"):
        MappedCollection([h5ad_files[0], tmp_path / "disjoint.h5ad"])


def _save_files(paths: list[Path]) -> list[fl.Artifact]:
    return [fl.Artifact(p, key=f"cells/{p.name}").save() for p in paths]


def test_collection_mapped_tracks_the_run_input(instance: Instance,
                                                h5ad_files: list[Path]) -> None:
    collection = fl.Collection(_save_files(h5ad_files), key="cells").save()
    with fl.track(transform="train") as run:
        with collection.mapped(obs_keys="cell_type", join="outer") as ds:
            first: dict[str, Any] = ds[0]
            assert len(ds) == 9 and ds.n_vars == 6
        ds2 = collection.mapped(is_run_input=False)
        ds2.close()
    assert [c.id for c in run.input_collections.all()] == [collection.id]
    np.testing.assert_array_equal(first["X"], _expected(h5ad_files, ds.var_joint or [])[0])
    assert run.input_artifacts.count() == 0  # tracked at the collection level


def test_collection_mapped_refuses_other_suffixes(instance: Instance,
                                                  h5ad_files: list[Path]) -> None:
    table = fl.Artifact(pd.DataFrame({"x": [1]}), key="t.parquet").save()
    collection = fl.Collection([*_save_files(h5ad_files[:1]), table], key="mixed").save()
    with pytest.raises(ValidationError, match=r"\.parquet"):
        collection.mapped()
