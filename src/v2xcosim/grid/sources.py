"""Network sources: a pandapower JSON file, a MATPOWER case, a SimBench code or a built-in name.

:func:`load_source` reads one and :func:`check_network` refuses, naming every element, what a
study or a co-simulation cannot use: buses without a unique name or a nominal voltage, no
external grid, buses cut off from it, unrated lines or transformers.  Used by the sites use
case (``grid.network``) and by the grid studies (:mod:`v2xcosim.studies.inputs`).

* a pandapower ``.json`` file (``pandapower.to_json``; a run folder's ``network.json``);
* a MATPOWER case, ``.m`` (read with ``matpowercaseframes``) or ``.mat``, converted by
  pandapower's ``pandapower.converter.matpower.from_mpc`` (50 Hz);
* a SimBench code, ``simbench:1-LV-rural1--0-sw`` or the bare code, read offline from the
  files inside the ``simbench`` package (``simbench.get_simbench_net``);
* a built-in network name of :mod:`v2xcosim.grid.networks` (``cigre_lv``).
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError

SOURCES = (
    "a scenario (.toml), a pandapower network (.json), a MATPOWER case (.m, .mat), "
    "a SimBench code (simbench:CODE) or a built-in network name"
)
"""What a network source may be, for messages."""

FILE_SUFFIXES = (".json", ".m", ".mat")
"""Suffixes of network files (anything else is a SimBench code or a built-in name)."""

UNRATED_I_KA = 99_999.0
"""pandapower's MATPOWER converter writes this ampacity for a branch without a rating
(``rateA`` = 0); it counts as a missing rating."""

_SHOWN = 8  # elements named in one message


def load_source(text: str | Path) -> tuple[Any, str]:
    """Load the network ``text`` names (a file, a SimBench code or a name); return it and a label.

    A file must exist (give it as an absolute path or relative to the working folder).
    """
    name = str(text)
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix in FILE_SUFFIXES:
        if not path.is_file():
            raise ScenarioError(f"network source {name!r}: no such file; give {SOURCES}")
        net = _pandapower_json(path) if suffix == ".json" else _matpower(path)
        return net, str(path)
    return _named(name)


def _quiet(fn: Callable[[], Any]) -> Any:
    """Call a third-party loader with its own deprecation notices silenced (not our code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn()


def _pandapower_json(path: Path) -> Any:
    import pandapower as pp

    try:
        net = _quiet(lambda: pp.from_json(str(path)))
    except Exception as exc:  # pandapower raises many kinds for a bad file
        raise ScenarioError(
            f"{path}: not a pandapower network ({type(exc).__name__}: {exc}); "
            "save one with pandapower.to_json(net, path)"
        ) from None
    if not hasattr(net, "bus") or not hasattr(net, "ext_grid"):
        raise ScenarioError(f"{path}: not a pandapower network (no bus or ext_grid table)")
    return net


def _matpower(path: Path) -> Any:
    try:
        from pandapower.converter.matpower import from_mpc
    except ImportError as exc:  # pragma: no cover - pandapower always ships it
        raise ScenarioError(f"{path}: pandapower's MATPOWER converter is missing ({exc})") from None
    if path.suffix.lower() == ".m" and importlib.util.find_spec("matpowercaseframes") is None:
        raise ScenarioError(
            f"{path}: reading a MATPOWER .m case needs the package matpowercaseframes "
            "(pip install matpowercaseframes), or give the case as .mat"
        )
    try:
        net = _quiet(lambda: from_mpc(str(path), f_hz=50))
    except Exception as exc:  # the parser and converter raise many kinds for a bad case
        raise ScenarioError(
            f"{path}: not a MATPOWER case pandapower can convert ({type(exc).__name__}: {exc})"
        ) from None
    unnamed = net.bus["name"].isna() | (net.bus["name"].astype(str).str.strip() == "")
    # the converter numbers buses MATPOWER's bus_i - 1
    net.bus.loc[unnamed, "name"] = [f"bus {int(i) + 1}" for i in net.bus.index[unnamed]]
    return net


def _named(text: str) -> tuple[Any, str]:
    """Load a SimBench code (``simbench:CODE`` or the bare code) or a built-in network name."""
    from v2xcosim.grid import networks

    if text in networks.BUILDERS:
        return networks.build(text), f"built-in network {text!r}"
    code = text.removeprefix("simbench:")
    import simbench

    codes = simbench.collect_all_simbench_codes()
    if code in codes:
        try:
            net = _quiet(lambda: simbench.get_simbench_net(code))
        except Exception as exc:  # pragma: no cover - the codes ship with the package
            raise ScenarioError(
                f"SimBench {code!r} does not load ({type(exc).__name__}: {exc})"
            ) from None
        return net, f"SimBench {code!r}"
    if text.startswith("simbench:"):
        near = difflib.get_close_matches(code, codes, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ScenarioError(f"{text}: not a SimBench code{hint} (e.g. 1-LV-rural1--0-sw)")
    looks_like_file = Path(text).suffix != "" or "/" in text
    what = "no such file" if looks_like_file else "not a file, SimBench code or built-in network"
    raise ScenarioError(
        f"network source {text!r}: {what}; give {SOURCES} "
        f"(built-in: {', '.join(sorted(networks.BUILDERS))})"
    )


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(repr(x) for x in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def check_network(net: Any, where: str) -> None:
    """Raise a :class:`ScenarioError` naming every element a study cannot use.

    Checked on in-service elements: bus names present and unique, bus nominal voltage
    (``vn_kv`` > 0), an external grid, no bus cut off from it (pandapower's
    ``topology.unsupplied_buses``, switches respected), line ratings (``max_i_ka`` > 0 and not
    the converter's "unrated" :data:`UNRATED_I_KA`), transformer ratings (``sn_mva`` > 0).
    """
    import pandapower.topology as top

    problems: list[str] = []
    bus = net.bus[net.bus["in_service"].astype(bool)]
    raw = bus["name"]
    missing = raw.isna() | (raw.astype(str).str.strip() == "")
    if missing.any():
        problems.append(
            "buses without a name: index "
            + _listed([str(i) for i in bus.index[missing]])
            + " (every bus needs a unique name)"
        )
    names = net.bus["name"].astype(str)
    dup = sorted(set(names[bus.index][names[bus.index].duplicated()]))
    if dup:
        problems.append(f"bus names used more than once: {_listed(dup)}")
    bad_kv = [names[i] for i in bus.index if not _positive(bus.at[i, "vn_kv"])]
    if bad_kv:
        problems.append(f"buses without a nominal voltage (vn_kv): {_listed(bad_kv)}")
    if not net.ext_grid["in_service"].astype(bool).any():
        problems.append("no external grid (ext_grid) in service: nothing supplies the network")
    else:
        cut = sorted(int(b) for b in top.unsupplied_buses(net) if int(b) in bus.index)
        if cut:
            problems.append(
                "buses not connected to the external grid (isolated): "
                + _listed([names[b] for b in cut])
            )
    line = net.line[net.line["in_service"].astype(bool)]
    bad_line = [
        _element_name(line, i, "line")
        for i in line.index
        if not _positive(line.at[i, "max_i_ka"]) or float(line.at[i, "max_i_ka"]) >= UNRATED_I_KA
    ]
    if bad_line:
        problems.append(f"lines without a rating (max_i_ka): {_listed(bad_line)}")
    trafo = net.trafo[net.trafo["in_service"].astype(bool)]
    bad_trafo = [
        _element_name(trafo, i, "trafo")
        for i in trafo.index
        if not _positive(trafo.at[i, "sn_mva"])
    ]
    if bad_trafo:
        problems.append(f"transformers without a rating (sn_mva): {_listed(bad_trafo)}")
    if problems:
        raise ScenarioError(f"{where}: " + "; ".join(problems))


def require_buses(net: Any, wanted: Iterable[str], where: str) -> None:
    """Raise a :class:`ScenarioError` naming every bus of ``wanted`` that ``net`` lacks."""
    names = set(net.bus["name"].astype(str))
    unknown = [b for b in dict.fromkeys(str(w) for w in wanted) if b not in names]
    if not unknown:
        return
    near = difflib.get_close_matches(unknown[0], sorted(names), n=3)
    hint = f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""
    raise ScenarioError(f"{where}: unknown bus(es) {_listed(unknown)}{hint}")


def _positive(value: Any) -> bool:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(x) and x > 0.0


def _element_name(table: Any, idx: Any, kind: str) -> str:
    name = table.at[idx, "name"]
    if name is None or (isinstance(name, float) and math.isnan(name)) or str(name) == "":
        return f"{kind} {idx}"
    return str(name)


__all__ = [
    "FILE_SUFFIXES",
    "SOURCES",
    "UNRATED_I_KA",
    "check_network",
    "load_source",
    "require_buses",
]
