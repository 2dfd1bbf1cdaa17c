"""A CSV file (plain or .gz) as a feature matrix and a target: the seed's diabetes.csv, and any like it.

Errors name the file, the line (1-based, as an editor shows it) and the column.
"""
from __future__ import annotations

import csv
import gzip
import io
import math
import warnings
from pathlib import Path

import torch

from ...errors import DataError

MAX_CLASSES = 20   # task="auto": an integer target with at most this many distinct values is a class label


def _open(p: Path):
    with open(p, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
    return open(p, encoding="utf-8", newline="")


def _column(key, names: list[str], n: int, path: str, field: str) -> int:
    if isinstance(key, str):
        if key not in names:
            raise DataError(f"column {key!r} not found", path,
                            f"data.{field} names a column of the header: " + ", ".join(names))
        return names.index(key)
    if not -n <= key < n:
        raise DataError(f"column index {key} out of range for {n} columns", path, f"set data.{field} in [{-n}, {n - 1}]")
    return key % n


def _rows(spec, p: Path):
    try:
        with _open(p) as fh:
            rows = [(i + 1, r) for i, r in enumerate(csv.reader(fh, delimiter=spec.delimiter)) if r]
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as e:
        raise DataError(f"cannot read the file: {e}", str(p), "give a UTF-8 CSV file, plain or gzip") from None
    if not rows:
        raise DataError("no data rows", str(p), "the file needs at least one row of values")
    return rows


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _has_header(spec, rows: list, path: str) -> bool:
    """spec.header, or for "auto": a header when some cell of the first row is text over a number in the row below
    (so a string label column does not count). A numeric first row is data; with header=true it is still
    used as the header (as asked), with a warning, since that drops a row of data."""
    first = rows[0][1]
    numeric = all(_is_number(c) for c in first)
    if spec.header == "auto":
        below = rows[1][1] if len(rows) > 1 else [""] * len(first)
        return any(not _is_number(a) and _is_number(b) for a, b in zip(first, below)) or (
            len(rows) == 1 and not numeric)
    if spec.header and numeric:
        warnings.warn(f"{path}: data.header is true but the first row ({', '.join(first[:4])}"
                      f"{', ...' if len(first) > 4 else ''}) is all numbers: it is read as column names, not data "
                      "(set data.header to 'auto' or false to keep it)", UserWarning, stacklevel=3)
    return bool(spec.header)


def read_csv(spec):
    """(x float32 (N, F), y, task, class_names) from spec.path, spec.delimiter, spec.header, target, features."""
    path = spec.path
    p = Path(path)
    if not path or not p.is_file():
        raise DataError("CSV file not found", path or "data.path", "give the path of an existing .csv or .csv.gz file")
    rows = _rows(spec, p)
    header = _has_header(spec, rows, path)
    if header and len(rows) == 1:
        raise DataError("no data rows", path, "the file needs at least one row of values")
    n = len(rows[0][1])
    names = rows[0][1] if header else [str(i) for i in range(n)]
    body = rows[1:] if header else rows
    for line, r in body:
        if len(r) != n:
            raise DataError(f"{len(r)} fields, expected {n}", f"{path} line {line}",
                            f"every row needs the {n} fields of the {'header' if header else 'first row'}; "
                            f"check the delimiter ({spec.delimiter!r}) and quoting")
    t = _column(spec.target, names, n, path, "target")
    feats = [_column(c, names, n, path, "features") for c in spec.features] or [i for i in range(n) if i != t]
    if not feats:
        raise DataError(f"no feature columns: the file has {n} column{'s' if n > 1 else ''}", path,
                        f"check the delimiter ({spec.delimiter!r})" if n == 1 else "name them in data.features")
    if t in feats:
        raise DataError(f"the target column {names[t]!r} is also a feature", path, "remove it from data.features")
    x = torch.tensor([[_num(r[j], line, names[j], path) for j in feats] for line, r in body], dtype=torch.float32)
    y, task, classes = _target([(line, r[t]) for line, r in body], names[t], spec.task, path)
    return x, y, task, classes


def _num(cell: str, line: int, col: str, path: str, fix: str = "fix the cell, or leave the column out of "
         "data.features") -> float:
    """A cell as a finite float; an empty, non-numeric, nan or inf cell is a DataError naming line and column."""
    where = f"{path} line {line}, column {col!r}"
    if not cell.strip():
        raise DataError("empty cell", where, fix)
    try:
        v = float(cell)
    except ValueError:
        raise DataError(f"{cell!r} is not a number", where, fix) from None
    if not math.isfinite(v):
        raise DataError(f"{cell!r} is not a finite number", where, fix)
    return v


def _target(cells: list, col: str, task: str, path: str):
    fix = "every row needs a target value; fix the cell or remove the row"
    for line, c in cells:
        if not c.strip():
            raise DataError("empty target cell", f"{path} line {line}, column {col!r}", fix)
    vals = []
    numeric = True
    for line, c in cells:
        if not _is_number(c):
            if task == "regression":
                _num(c, line, col, path, fix)
            numeric = False
            break
        vals.append(_num(c, line, col, path, fix))
    if task == "auto":
        task = "classification" if not numeric or (
            all(v.is_integer() for v in vals) and len(set(vals)) <= MAX_CLASSES) else "regression"
    if task == "regression":
        return torch.tensor(vals, dtype=torch.float32).unsqueeze(1), task, []
    keys = vals if numeric else [c.strip() for _, c in cells]
    order = sorted(set(keys))
    index = {k: i for i, k in enumerate(order)}
    names = [(str(int(k)) if k.is_integer() else f"{k:g}") if numeric else k for k in order]
    if len(order) < 2:
        raise DataError(f"the target column {col!r} holds one class only ({names[0]!r}): a classifier needs at least "
                        "2", path, "check data.target names the label column, or set data.task to 'regression'")
    return torch.tensor([index[k] for k in keys], dtype=torch.int64), task, names
