"""Frozen dataclasses of numbers and numpy arrays as JSON data, and back, bit for bit.

A use case computes what a run needs once (users, slots, profiles) and hands it to simulators
as JSON-serialisable parameters, so any simulator can run in another process: :func:`to_json`
turns such a dataclass into plain data (arrays keep their dtype and shape; floats are written
as Python floats, which round-trip exactly), :func:`from_json` rebuilds it from the class's
type hints.  Large numeric arrays travel as their bytes (base64), small ones as lists.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import typing
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_ARRAY = "__ndarray__"
PACKED_MIN_ELEMENTS = 65_536
"""Arrays with more elements travel as base64 bytes instead of a list of numbers (bit for bit
either way; the bytes are 4-5x smaller than the JSON text and need no Python float each)."""
_TIME = "__datetime__"


def to_json(value: Any) -> Any:
    """Return ``value`` (dataclass, array, datetime, tuple, dict, scalar) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        if value.size > PACKED_MIN_ELEMENTS and value.dtype.kind in "fiub":
            # a large numeric array as its bytes (base64, little-endian): a year of per-element
            # profiles is tens of millions of numbers, a Python float each as a list
            data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
            return {
                _ARRAY: data.dtype.str,
                "shape": list(value.shape),
                "base64": base64.b64encode(data.tobytes()).decode("ascii"),
            }
        return {
            _ARRAY: str(value.dtype),
            "shape": list(value.shape),
            "values": value.ravel().tolist(),
        }
    if isinstance(value, dt.datetime):
        return {_TIME: value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(data: Any) -> Any:
    if isinstance(data, dict) and _ARRAY in data and "base64" in data:
        raw = base64.b64decode(data["base64"])
        packed = np.frombuffer(raw, dtype=np.dtype(data[_ARRAY])).reshape(data["shape"])
        return packed.astype(packed.dtype.newbyteorder("="))  # a native, writable copy
    if isinstance(data, dict) and _ARRAY in data:
        return np.asarray(data["values"], dtype=np.dtype(data[_ARRAY])).reshape(data["shape"])
    if isinstance(data, dict) and _TIME in data:
        return dt.datetime.fromisoformat(data[_TIME])
    if isinstance(data, dict):
        return {k: _decode(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode(v) for v in data]
    return data


def _dataclass_values(hint: Any) -> bool:
    """Whether ``hint`` is ``dict[str, <dataclass>]``."""
    args = typing.get_args(hint)
    return len(args) == 2 and isinstance(args[1], type) and dataclasses.is_dataclass(args[1])


def from_json(cls: type[T], data: Any) -> T:
    """Rebuild a dataclass ``cls`` from :func:`to_json` data.

    Nested dataclasses are rebuilt too, also as the values of a ``dict[str, <dataclass>]``.
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = data[f.name]
        hint = hints[f.name]
        origin = typing.get_origin(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[f.name] = from_json(hint, raw)
        elif origin is tuple:
            kwargs[f.name] = tuple(_decode(raw))
        elif origin is dict and _dataclass_values(hint):
            value_cls = typing.get_args(hint)[1]
            kwargs[f.name] = {str(k): from_json(value_cls, v) for k, v in raw.items()}
        else:
            kwargs[f.name] = _decode(raw)
    return cls(**kwargs)
