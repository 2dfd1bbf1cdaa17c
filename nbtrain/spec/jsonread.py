"""Reading a spec file that may come from anyone: UTF-8 text of bounded size, JSON of bounded depth and
bounded numbers, every problem one SpecError with the line and column (never RecursionError or ValueError).

A spec nests about five levels (TrainSpec -> data -> train_transforms -> [...] -> {...} -> a list param) and
its numbers fit in 20 digits (int64 is 19); the limits below leave room for anything nbtrain writes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import SpecError

MAX_DEPTH = 32              # nesting of objects and arrays
MAX_DIGITS = 30             # digits of an integer literal (Python refuses over 4300; int64 needs 19)
MAX_BYTES = 10_000_000      # a spec is a few KB; a bigger file is surely not one
_FIX = "check the file is a spec saved by nbtrain (TrainSpec.to_json or `nbtrain spec`)"
# a JSON string (skipped), a bracket, Python's non-JSON constants, or the digits of a number, outside strings
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|-?\d+|-?Infinity|NaN')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')     # the same strings as in _TOKEN, unrolled: 10x faster
_LONG = re.compile(r"\d{%d}" % (MAX_DIGITS + 1))


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _check_shape(text: str, where: str) -> None:
    """Nesting depth and integer length, checked before json.loads ever recurses or converts: first at C speed over
    the text with its strings emptied (a 10 MB spec of 550k layers took 3-4 s token by token), then, only when that
    finds something, token by token to name the line and column."""
    bare = _STRING.sub('""', text)
    b = np.frombuffer(bare.encode(), np.uint8)         # depth after each byte: +1 at [ {, -1 at ] }
    step = ((b == 91) | (b == 123)).astype(np.int32) - ((b == 93) | (b == 125))
    deep = b.size and int(step.cumsum().max()) > MAX_DEPTH
    if deep or "Infinity" in bare or "NaN" in bare or _LONG.search(bare):
        _scan(text, where)


def _scan(text: str, where: str) -> None:
    depth = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"nested more than {MAX_DEPTH} levels deep at {_line_col(text, m.start())}", where,
                                _FIX)
        elif tok in "]}":
            depth -= 1
        elif tok[-1] in "yN":
            raise SpecError(f"{tok} at {_line_col(text, m.start())} is not a JSON number", where,
                            "write a finite number, e.g. 0.001")
        elif tok[0] != '"' and len(tok.lstrip("-")) > MAX_DIGITS:
            raise SpecError(f"a number with {len(tok.lstrip('-'))} digits at {_line_col(text, m.start())}", where,
                            f"numbers in a spec have at most {MAX_DIGITS} digits")


def read_json(text: str, where: str):
    """``json.loads(text)`` with the limits above; NaN / Infinity literals are refused (not JSON)."""
    _check_shape(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", where, _FIX) from None


def read_text(path, what: str = "spec file") -> str:
    """A text file as UTF-8, with one clear error for a missing, huge or non-UTF-8 file."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{what} not found", str(p), "give the path of a JSON spec (`nbtrain spec > spec.json`)")
    if p.stat().st_size > MAX_BYTES:
        raise SpecError(f"{what} of {p.stat().st_size:,} bytes is too big (a spec is a few KB)", str(p), _FIX)
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError(f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}", str(p),
                        "save the file as UTF-8 (nbtrain writes specs in UTF-8)") from None
