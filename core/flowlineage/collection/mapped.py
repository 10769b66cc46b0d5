"""A map-style dataset over AnnData ``.h5ad`` files, read lazily with h5py.

``MappedCollection`` (``Collection.mapped()``, as in lamindb) virtually concatenates the
observations of several files: ``len()`` is the total number of rows and item ``i`` is a
dict with one row of ``.X`` and/or layers (``"X"`` / layer name), one value per
requested ``.obs`` column (an int when encoded), ``obsm_<key>`` rows and ``"_store_idx"``,
the position of the file the row came from. Only the requested row is read: dense
arrays by row, CSR matrices (``X/data``, ``X/indices``, ``X/indptr`` as anndata writes
them) through their index pointer. Nothing imports torch; the object works as a
``torch.utils.data.Dataset`` because it has ``__len__`` and ``__getitem__``.

Variables are joined across files by name: ``inner`` keeps the variables every file has,
in the first file's order; ``outer`` keeps all of them in order of first appearance and
fills a file's missing variables with zeros; ``None`` returns each file's own columns.

File handles belong to the process that opened them. A process that did not open them
(a ``DataLoader`` worker, forked or spawned; the dataset pickles without its handles)
opens its own on first access. With ``parallel=True`` the creating process closes its
handles once the metadata is read, so workers never inherit open HDF5 files.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ..errors import FlowlineageError, StorageError, ValidationError
from ..optional import require
from ..storage.backends import backend_for

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def _h5py() -> Any:
    """h5py, imported on first use (it loads numpy: ``import flowlineage`` stays cheap)."""
    return require("h5py", "data")

Join = Literal["inner", "outer"]
UNKNOWN = -1
"""Encoded value of ``unknown_label`` and of missing labels."""


@dataclass
class _Matrix:
    """A dense dataset (``indptr`` is None) or a CSR group of one file."""

    data: Any
    indices: Any = None
    indptr: Any = None
    n_cols: int = 0


@dataclass
class _ColumnMap:
    """Where a file's variables go in the joined variable order."""

    positions: NDArray[np.intp]  # joined position of each file column, -1 if dropped
    source: NDArray[np.intp]  # file columns kept
    target: NDArray[np.intp]  # their joined positions


@dataclass
class _ObsColumn:
    """How one ``.obs`` column is stored in one file."""

    kind: str  # "categorical", "nullable", "array" or "absent"
    categories: list[Any] | None = None  # decoded categories, when cached
    lookup: NDArray[np.int64] | None = None  # category code -> encoded label


class MappedCollection:
    """Rows of several ``.h5ad`` files as one map-style dataset (see the module docs).

    ``encoders`` maps each encoded ``.obs`` key to its ``{label: int}`` encoder; codes
    follow the sorted labels of all files, ``unknown_label`` and missing values are -1.
    """

    def __init__(
        self,
        path_list: Sequence[str | os.PathLike[str]],
        layers_keys: str | list[str] | None = None,
        obs_keys: str | list[str] | None = None,
        obsm_keys: str | list[str] | None = None,
        obs_filter: dict[str, str | Sequence[str]] | None = None,
        join: Join | None = "inner",
        encode_labels: bool | list[str] = True,
        unknown_label: str | dict[str, str] | None = None,
        cache_categories: bool = True,
        parallel: bool = False,
        dtype: str | np.dtype[Any] | None = None,
    ) -> None:
        import numpy as np
        if join not in ("inner", "outer", None):
            raise ValidationError(f"join must be 'inner', 'outer' or None, not {join!r}")
        self.path_list = [os.fspath(p) for p in path_list]
        if not self.path_list:
            raise ValidationError("MappedCollection needs at least one .h5ad file")
        self.layers_keys = _names(layers_keys) or ["X"]
        self.obs_keys = _names(obs_keys)
        self.obsm_keys = _names(obsm_keys)
        self.encode_labels = _encoded_keys(encode_labels, self.obs_keys)
        self._unknown = _unknown_labels(unknown_label, self.encode_labels)
        self.parallel = parallel
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._pid = os.getpid()
        self._handles: dict[int, tuple[Any, Any]] = {}
        self._elements: dict[int, dict[str, Any]] = {}
        self._closed = False
        self._file_rows: list[int] = []
        self.var_list: list[list[str]] = []
        filters = {k: {v} if isinstance(v, str) else set(v) for k, v in (obs_filter or {}).items()}
        self._obs: dict[str, list[_ObsColumn]] = {
            key: [] for key in [*self.obs_keys, *filters]}
        try:
            for store in range(len(self.path_list)):
                self._read_metadata(store, cache_categories)
            self._rows = [self._kept_rows(store, filters) for store in range(len(self.path_list))
                          ] if filters else []
            self.n_obs_list = ([len(rows) for rows in self._rows] if filters
                               else list(self._file_rows))
            self.encoders: dict[str, dict[Any, int]] = {
                key: self._make_encoder(key) for key in self.encode_labels
            }
            self._set_lookups()
        except BaseException:
            self._close_handles()
            raise
        self.n_obs = sum(self.n_obs_list)
        self._ends = np.cumsum(self.n_obs_list)
        self.join_vars = join
        self.var_joint, self._col_maps = _join_vars(self.var_list, join)
        self.n_vars = len(self.var_joint) if self.var_joint is not None else None
        if parallel:
            self._close_handles()

    # ---------------------------------------------------------------- metadata

    def _read_metadata(self, store: int, cache_categories: bool) -> None:
        path = self.path_list[store]
        f = self._handle(store)
        for name in ("X", "var"):
            if name not in f:
                raise ValidationError(f"{path} has no {name}: is it an .h5ad file?")
        x = _matrix(f["X"], "X", path)
        self._file_rows.append(_n_rows(f["X"]))
        names = _values(f["var"][_attr(f["var"], "_index")])
        if len(names) != x.n_cols:
            raise ValidationError(f"{path}: var has {len(names)} names for {x.n_cols} columns")
        self.var_list.append(names)
        for key in self.layers_keys:
            if key != "X":
                _matrix(_element(f, "layers", key, path), f"layers/{key}", path)
        for key in self.obsm_keys:
            _matrix(_element(f, "obsm", key, path), f"obsm/{key}", path)
        obs = f["obs"] if self._obs else {}
        for key in self._obs:
            if key not in obs:
                self._obs[key].append(_ObsColumn("absent"))
                continue
            kind = _encoding(obs[key])
            if kind == "categorical":
                keep = cache_categories or key in self.encode_labels
                cats = _values(obs[key]["categories"]) if keep else None
                self._obs[key].append(_ObsColumn("categorical", cats))
            elif kind.startswith("nullable"):
                self._obs[key].append(_ObsColumn("nullable"))
            elif isinstance(obs[key], _h5py().Dataset):
                self._obs[key].append(_ObsColumn("array"))
            else:
                raise ValidationError(f"{path}: obs column {key!r} has unsupported encoding "
                                      f"{kind!r}")

    def _kept_rows(self, store: int, filters: dict[str, set[str]]) -> NDArray[np.intp]:
        """The rows of one file whose ``.obs`` values pass ``obs_filter``."""
        import numpy as np

        keep = np.ones(self._file_rows[store], dtype=bool)
        for key, allowed in filters.items():
            keep &= np.array([v in allowed for v in self._column_values(store, key)], dtype=bool)
        return np.flatnonzero(keep)

    def _make_encoder(self, key: str) -> dict[Any, int]:
        labels: set[Any] = set()
        for store, column in enumerate(self._obs[key]):
            if column.kind == "categorical":
                labels.update(column.categories or [])
            elif column.kind != "absent":
                labels.update(v for v in self._column_values(store, key) if v is not None)
        ordered = sorted(labels, key=lambda v: (type(v).__name__, v))
        encoder: dict[Any, int] = {}
        unknown = self._unknown.get(key)
        if unknown is not None and unknown in labels:
            ordered.remove(unknown)
            encoder[unknown] = UNKNOWN
        encoder.update({label: i for i, label in enumerate(ordered)})
        return encoder

    def _set_lookups(self) -> None:
        import numpy as np
        for key in self.encode_labels:
            encoder = self.encoders[key]
            for column in self._obs[key]:
                if column.kind == "categorical":
                    column.lookup = np.array([encoder[c] for c in column.categories or []],
                                             dtype=np.int64)

    def _column_values(self, store: int, key: str) -> list[Any]:
        """Every value of an ``.obs`` column of one file (None where missing)."""
        import numpy as np
        column = self._obs[key][store]
        n = self._file_rows[store]
        if column.kind == "absent":
            return [None] * n
        elem = self._handle(store)["obs"][key]
        if column.kind == "categorical":
            cats = column.categories
            if cats is None:
                cats = _values(elem["categories"])
            return [cats[c] if c >= 0 else None for c in elem["codes"][...].tolist()]
        if column.kind == "nullable":
            mask = elem["mask"][...] if "mask" in elem else np.zeros(n, dtype=bool)
            values = elem["values"][...].tolist()
            return [None if m else v for v, m in zip(values, mask.tolist(), strict=True)]
        return _values(elem)

    # ---------------------------------------------------------------- handles

    def _own_handles(self) -> None:
        if self._pid != os.getpid():  # inherited over fork: leave those, open our own
            self._pid, self._handles, self._elements = os.getpid(), {}, {}

    def _handle(self, store: int) -> Any:
        """This process's open HDF5 file of ``store`` (opened on first use)."""
        self._own_handles()
        found = self._handles.get(store)
        if found is None:
            found = self._handles[store] = _open_h5(self.path_list[store])
        return found[0]

    def _store_elements(self, store: int) -> dict[str, Any]:
        if self._closed:
            raise FlowlineageError("this MappedCollection is closed")
        self._own_handles()
        found = self._elements.get(store)
        if found is not None:
            return found
        f = self._handle(store)
        path = self.path_list[store]
        elements: dict[str, Any] = {}
        for key in self.layers_keys:
            elem = f["X"] if key == "X" else f["layers"][key]
            elements[key] = _matrix(elem, key, path)
        for key in self.obsm_keys:
            elements[f"obsm_{key}"] = _matrix(f["obsm"][key], key, path)
        for key in self.obs_keys:
            if self._obs[key][store].kind != "absent":
                elements[f"obs/{key}"] = f["obs"][key]
        self._elements[store] = elements
        return elements

    def _close_handles(self) -> None:
        if self._pid == os.getpid():
            for h5, fileobj in self._handles.values():
                h5.close()
                if fileobj is not None:
                    fileobj.close()
        self._handles, self._elements = {}, {}

    def close(self) -> None:
        """Close this process's file handles; reading afterwards raises."""
        self._close_handles()
        self._closed = True

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def __enter__(self) -> MappedCollection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"], state["_elements"] = {}, {}
        return state

    # ---------------------------------------------------------------- items

    def __len__(self) -> int:
        return self.n_obs

    @property
    def shape(self) -> tuple[int, int | None]:
        """``(observations, joined variables)``; variables are None without a join."""
        return self.n_obs, self.n_vars

    @property
    def original_shapes(self) -> list[tuple[int, int]]:
        """``(observations, variables)`` of each file."""
        return [(n, len(v)) for n, v in zip(self.n_obs_list, self.var_list, strict=True)]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        import numpy as np
        i = int(idx)
        if i < 0:
            i += self.n_obs
        if not 0 <= i < self.n_obs:
            raise IndexError(f"index {idx} out of range for {self.n_obs} observations")
        store = int(np.searchsorted(self._ends, i, side="right"))
        row = i - (int(self._ends[store - 1]) if store else 0)
        if self._rows:
            row = int(self._rows[store][row])
        elements = self._store_elements(store)
        out: dict[str, Any] = {}
        col_map = self._col_maps[store]
        for key in self.layers_keys:
            out[key] = self._row(elements[key], row, col_map)
        for key in self.obsm_keys:
            out[f"obsm_{key}"] = self._row(elements[f"obsm_{key}"], row, None)
        for key in self.obs_keys:
            out[key] = self._label(store, elements, key, row)
        out["_store_idx"] = store
        return out

    def _row(self, m: _Matrix, row: int, col_map: _ColumnMap | None) -> NDArray[Any]:
        import numpy as np
        dtype = self._dtype or m.data.dtype
        if m.indptr is None:
            values = m.data[row]
            if col_map is None:
                return np.asarray(values, dtype=dtype)
            out = np.zeros(self.n_vars or 0, dtype=dtype)
            out[col_map.target] = values[col_map.source]
            return out
        start, end = (int(v) for v in m.indptr[row : row + 2])
        data = m.data[start:end]
        cols = m.indices[start:end]
        if col_map is None:
            out = np.zeros(m.n_cols, dtype=dtype)
            out[cols] = data
            return out
        targets = col_map.positions[cols]
        kept = targets >= 0
        out = np.zeros(self.n_vars or 0, dtype=dtype)
        out[targets[kept]] = data[kept]
        return out

    def _label(self, store: int, elements: dict[str, Any], key: str, row: int) -> Any:
        column = self._obs[key][store]
        encoded = key in self.encoders
        value: Any = None
        if column.kind == "categorical":
            elem = elements[f"obs/{key}"]
            code = int(elem["codes"][row])
            if code >= 0:
                if column.lookup is not None:
                    return int(column.lookup[code])
                cats = column.categories
                value = cats[code] if cats is not None else _decode(elem["categories"][code])
        elif column.kind == "nullable":
            elem = elements[f"obs/{key}"]
            if "mask" not in elem or not elem["mask"][row]:
                value = _decode(elem["values"][row])
        elif column.kind == "array":
            value = _decode(elements[f"obs/{key}"][row])
        if encoded:
            return UNKNOWN if value is None else self.encoders[key][value]
        return value

    # ---------------------------------------------------------------- labels

    def get_merged_labels(self, label_key: str) -> NDArray[Any]:
        """Every observation's value of an ``.obs`` column (None where missing)."""
        import numpy as np
        self._check_obs_key(label_key)
        values: list[Any] = []
        for store in range(len(self.path_list)):
            found = self._column_values(store, label_key)
            values.extend([found[i] for i in self._rows[store]] if self._rows else found)
        return np.array(values, dtype=object)

    def get_merged_categories(self, label_key: str) -> list[Any]:
        """The sorted distinct values of an ``.obs`` column across files."""
        labels = {v for v in self.get_merged_labels(label_key).tolist() if v is not None}
        return sorted(labels, key=lambda v: (type(v).__name__, v))

    def get_label_weights(self, obs_keys: str | list[str],
                          scaler: float | None = None) -> NDArray[np.float64]:
        """Per-observation sampling weights, ``1 / count`` of its label.

        Several keys combine their labels; with ``scaler`` the weight is
        ``scaler / (scaler + count)``.
        """
        import numpy as np
        keys = _names(obs_keys)
        columns = [self.get_merged_labels(k).tolist() for k in keys]
        labels = list(zip(*columns, strict=True))
        counter = Counter(labels)
        counts = np.array([counter[label] for label in labels], dtype=np.float64)
        return 1.0 / counts if scaler is None else scaler / (counts + scaler)

    def _check_obs_key(self, key: str) -> None:
        if key not in self._obs:
            raise ValidationError(f"{key!r} is not one of obs_keys {self.obs_keys}")

    def __repr__(self) -> str:
        return (f"MappedCollection({len(self.path_list)} files, {self.n_obs} observations, "
                f"{self.n_vars} variables, join={self.join_vars!r})")


# ---------------------------------------------------------------- helpers


def _names(keys: str | list[str] | None) -> list[str]:
    if keys is None:
        return []
    return [keys] if isinstance(keys, str) else list(keys)


def _encoded_keys(encode_labels: bool | list[str], obs_keys: list[str]) -> list[str]:
    if isinstance(encode_labels, bool):
        return list(obs_keys) if encode_labels else []
    missing = [k for k in encode_labels if k not in obs_keys]
    if missing:
        raise ValidationError(f"encode_labels {missing} are not in obs_keys {obs_keys}")
    return list(encode_labels)


def _unknown_labels(unknown_label: str | dict[str, str] | None,
                    encoded: list[str]) -> dict[str, str]:
    if unknown_label is None:
        return {}
    if isinstance(unknown_label, str):
        return {key: unknown_label for key in encoded}
    missing = [k for k in unknown_label if k not in encoded]
    if missing:
        raise ValidationError(f"unknown_label keys {missing} are not encoded labels {encoded}")
    return dict(unknown_label)


def _open_h5(path: str) -> tuple[Any, Any]:
    """An h5py file for a local path or a URL (streamed through the storage backend)."""
    fileobj = None
    try:
        if "://" in path:
            scheme, rest = path.split("://", 1)
            bucket, key = rest.split("/", 1)
            fileobj = backend_for(f"{scheme}://{bucket}").open(key)
            return _h5py().File(fileobj, "r"), fileobj
        return _h5py().File(path, "r"), None
    except OSError as e:
        if fileobj is not None:
            fileobj.close()
        raise StorageError(f"could not open {path} as HDF5: {e}") from e


def _attr(elem: Any, name: str) -> str:
    value = elem.attrs.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _encoding(elem: Any) -> str:
    return _attr(elem, "encoding-type") or ("array" if isinstance(elem, _h5py().Dataset) else "")


def _element(f: Any, group: str, key: str, path: str) -> Any:
    if group not in f or key not in f[group]:
        raise ValidationError(f"{path} has no {group}/{key}")
    return f[group][key]


def _matrix(elem: Any, what: str, path: str) -> _Matrix:
    kind = _encoding(elem)
    if isinstance(elem, _h5py().Dataset):
        if len(elem.shape) != 2:
            raise ValidationError(f"{path}: {what} is not a 2-d array")
        return _Matrix(elem, n_cols=int(elem.shape[1]))
    if kind == "csr_matrix":
        return _Matrix(elem["data"], elem["indices"], elem["indptr"],
                       int(elem.attrs["shape"][1]))
    raise ValidationError(
        f"{path}: {what} is stored as {kind or 'an unknown encoding'}; mapped() reads dense "
        "arrays and csr_matrix (convert csc with adata.X = adata.X.tocsr())"
    )


def _n_rows(elem: Any) -> int:
    if isinstance(elem, _h5py().Dataset):
        return int(elem.shape[0])
    return int(elem.attrs["shape"][0])


def _values(ds: Any) -> list[Any]:
    if _h5py().check_string_dtype(ds.dtype) is not None:
        return list(ds.asstr()[...].tolist())
    return [_decode(v) for v in ds[...].tolist()]


def _decode(value: Any) -> Any:
    import numpy as np

    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _join_vars(var_list: list[list[str]],
               join: Join | None) -> tuple[list[str] | None, list[_ColumnMap | None]]:
    """The joined variable names and, per file, how its columns map onto them."""
    import numpy as np
    first = var_list[0]
    if all(v == first for v in var_list[1:]):
        return list(first), [None] * len(var_list)
    if join is None:
        return None, [None] * len(var_list)
    for names in var_list:
        if len(set(names)) != len(names):
            raise ValidationError("cannot join variables by name: a file has duplicate names")
    if join == "inner":
        shared = set(first).intersection(*var_list[1:])
        joint = [v for v in first if v in shared]
        if not joint:
            raise ValidationError("the files share no variables; use join='outer'")
    else:
        joint = list(dict.fromkeys(v for names in var_list for v in names))
    where = {v: i for i, v in enumerate(joint)}
    maps: list[_ColumnMap | None] = []
    for names in var_list:
        positions = np.array([where.get(v, -1) for v in names], dtype=np.intp)
        source = np.flatnonzero(positions >= 0)
        maps.append(_ColumnMap(positions, source, positions[source]))
    return joint, maps
