from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from v2xcosim.core.tomlpos import (
    KeyPath,
    TomlPositions,
    clean_pydantic_loc,
    format_key_path,
    format_problem,
    toml_decode_error_position,
)

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


def text_at(text: str, pos: tuple[int, int] | None) -> str:
    """The rest of the line from ``pos``."""
    assert pos is not None
    line, col = pos
    return text.splitlines()[line - 1][col - 1 :]


def locate(text: str, *path: str | int) -> tuple[int, int] | None:
    return TomlPositions.from_text(text).locate(path)


# ------------------------------------------------------------------------- keys and tables


def test_top_level_keys() -> None:
    text = 'name = "x"\n  seed = 3  # comment\n\n"flag" = true\n'
    assert locate(text, "name") == (1, 1)
    assert locate(text, "seed") == (2, 3)
    assert locate(text, "flag") == (4, 1)


def test_table_headers_column_is_the_key_inside_the_brackets() -> None:
    text = "[time]\nstep_s = 300\n\n[ grid . pv ]\nbus = 'a'\n"
    assert locate(text, "time") == (1, 2)
    assert locate(text, "time", "step_s") == (2, 1)
    assert locate(text, "grid") == (4, 3)  # implied by [grid.pv]
    assert locate(text, "grid", "pv") == (4, 10)
    assert locate(text, "grid", "pv", "bus") == (5, 1)


def test_explicit_header_wins_over_an_implied_table() -> None:
    text = "[a.b]\nx = 1\n[a]\ny = 2\n"
    assert locate(text, "a") == (3, 2)
    assert locate(text, "a", "b") == (1, 4)


def test_dotted_keys_at_top_level_and_in_tables() -> None:
    text = "a.b.c = 1\na . d = 2\n[t]\nfmu.model = 'EV'\nfmu.fleet = true\n"
    assert locate(text, "a") == (1, 1)
    assert locate(text, "a", "b") == (1, 3)
    assert locate(text, "a", "b", "c") == (1, 5)
    assert locate(text, "a", "d") == (2, 5)
    assert locate(text, "t", "fmu") == (4, 1)
    assert locate(text, "t", "fmu", "model") == (4, 5)
    assert locate(text, "t", "fmu", "fleet") == (5, 5)


def test_quoted_keys() -> None:
    text = '"a.b" = 1\n\'x\' = 2\n"\\u00e9" = 4\n[p]\n"solver.rtol" . \'k\' = 3\n'
    assert locate(text, "a.b") == (1, 1)
    assert locate(text, "x") == (2, 1)
    assert locate(text, "é") == (3, 1)
    assert locate(text, "p", "solver.rtol", "k") == (5, 17)
    assert locate(text, "a") is None  # "a.b" is one key, not a table a


def test_arrays_of_tables_with_nested_tables() -> None:
    text = (
        "[[sites]]\nid = 'r'\n[sites.fmu]\nmodel = 'EV'\n[sites.fmu.parameters]\np = 1.0\n"
        "[[sites]]\nid = 's'\n[sites.fmu]\nmodel = 'EV2'\n"
        "[[sites.evs]]\nn = 1\n[[sites.evs]]\nn = 2\n"
    )
    pos = TomlPositions.from_text(text)
    assert pos.locate(("sites",)) == (1, 3)
    assert pos.locate(("sites", 0)) == (1, 3)
    assert pos.locate(("sites", 0, "fmu", "model")) == (4, 1)
    assert pos.locate(("sites", 0, "fmu", "parameters", "p")) == (6, 1)
    assert pos.locate(("sites", 1)) == (7, 3)
    assert pos.locate(("sites", 1, "id")) == (8, 1)
    assert pos.locate(("sites", 1, "fmu")) == (9, 8)
    assert pos.locate(("sites", 1, "fmu", "model")) == (10, 1)
    assert pos.locate(("sites", 1, "evs", 0, "n")) == (12, 1)
    assert pos.locate(("sites", 1, "evs", 1)) == (13, 9)
    assert pos.locate(("sites", 1, "evs", 1, "n")) == (14, 1)


def test_inline_tables() -> None:
    text = "x = { a = 1, b = { c = 'q' }, 'd.e' = 2 }\ny = {}\n"
    assert locate(text, "x") == (1, 1)
    assert locate(text, "x", "a") == (1, 7)
    assert locate(text, "x", "b", "c") == (1, 20)
    assert locate(text, "x", "d.e") == (1, 31)
    assert locate(text, "y") == (2, 1)


def test_array_elements() -> None:
    text = "v = [1, 2, 3]\nw = [ [1, 2], [3] ]\nt = [{ a = 1 }, { a = 2 }]\ne = []\n"
    assert locate(text, "v", 0) == (1, 6)
    assert locate(text, "v", 2) == (1, 12)
    assert locate(text, "w", 1, 0) == (2, 16)
    assert locate(text, "t", 1, "a") == (3, 19)
    assert locate(text, "e") == (4, 1)
    assert locate(text, "v", 7) == (1, 1)  # no such element: the key


def test_multi_line_arrays_and_strings_keep_the_line_count() -> None:
    text = (
        'a = """\nx = 1\n[fake]\n"""\n'
        "b = '''\n[[also.fake]]\n'''\n"
        'c = [  # comment ]\n  "x,]",\n  # a comment line\n  "y",\n]\n'
        'd = """quotes"" at the end"""""\n'
        'e = "esc \\" # not a comment"\n'
        "f = 1979-05-27 07:32:00Z\n"
        "[g]\nh = 1\n"
    )
    doc = tomllib.loads(text)
    assert "fake" not in doc
    pos = TomlPositions.from_text(text)
    assert ("fake",) not in pos
    assert pos.locate(("b",)) == (5, 1)
    assert pos.locate(("c", 0)) == (9, 3)
    assert pos.locate(("c", 1)) == (11, 3)
    assert pos.locate(("d",)) == (13, 1)
    assert pos.locate(("e",)) == (14, 1)
    assert pos.locate(("f",)) == (15, 1)
    assert pos.locate(("g", "h")) == (17, 1)


def test_crlf_line_endings() -> None:
    text = "a = 1\r\n[t]\r\nb = '''\r\nx\r\n'''\r\nc = 2\r\n"
    assert locate(text, "t", "c") == (6, 1)


# ------------------------------------------------------------------------- missing paths


def test_missing_paths_fall_back_to_the_nearest_ancestor() -> None:
    text = "name = 'x'\n[time]\nduration_s = 60\n[[sites]]\nid = 'r'\n"
    pos = TomlPositions.from_text(text)
    assert pos.locate(("time", "step_s")) == (2, 2)  # missing required key: the header
    assert pos.locate(("sites", 0, "fmu", "model")) == (4, 3)
    assert pos.locate(("sites", 3, "id")) == (4, 3)  # the array of tables as a whole
    assert pos.locate(("name", "x", 0)) == (1, 1)
    assert pos.locate(("grid", "network")) is None  # documented: top-level missing -> None
    assert pos.locate(()) is None
    assert ("time",) in pos
    assert ("time", "step_s") not in pos
    assert ["time"] not in pos


def test_empty_document() -> None:
    pos = TomlPositions.from_text("# nothing\n")
    assert len(pos) == 0
    assert pos.locate(("a",)) is None


def test_invalid_toml_raises_tomllib_error_with_a_position() -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        TomlPositions.from_text("a = 1\nb = [1,\nc = \n")
    assert toml_decode_error_position(info.value) == (3, 1)


def test_decode_error_position_parses_the_message() -> None:
    try:
        tomllib.loads("a = 1\n  b = ?\n")
    except tomllib.TOMLDecodeError as exc:
        assert toml_decode_error_position(exc) == (2, 7)
    else:
        pytest.fail("not rejected")
    assert toml_decode_error_position(tomllib.TOMLDecodeError("Bad (at end of document)")) is None
    message = "Invalid value (at line 12, column 34)"
    assert toml_decode_error_position(tomllib.TOMLDecodeError(message)) == (12, 34)


# ------------------------------------------------------------------------- formatting


def test_format_problem() -> None:
    assert format_problem("s.toml", (3, 1), "time.step_s", "required") == (
        "s.toml:3:1: time.step_s: required"
    )
    assert format_problem("s.toml", None, "name", "required") == "s.toml: name: required"
    assert format_problem("s.toml", (1, 1), "", "empty") == "s.toml:1:1: empty"


def test_format_key_path() -> None:
    assert format_key_path(("sites", 0, "fmu", "model")) == "sites[0].fmu.model"
    assert format_key_path(("p", "solver.rtol", "")) == 'p."solver.rtol".""'
    assert format_key_path(('a"b',)) == '"a\\"b"'
    assert format_key_path(()) == ""


def test_clean_pydantic_loc() -> None:
    assert clean_pydantic_loc(("time", "step_s", "float")) == ("time", "step_s")
    assert clean_pydantic_loc(("time", "step_s")) == ("time", "step_s")
    assert clean_pydantic_loc(("time",)) == ("time",)
    assert clean_pydantic_loc(("float",)) == ("float",)  # the root's keys are always kept
    assert clean_pydantic_loc(("x", "str", "y")) == ("x", "str", "y")  # a label is only last
    assert clean_pydantic_loc(("t", "date"), {"date", "time"}) == ("t",)
    assert clean_pydantic_loc(("a", "function-after[f(), float]", "str")) == ("a",)
    assert clean_pydantic_loc(("z", "list[int]", 3)) == ("z", 3)
    assert clean_pydantic_loc(("s", "literal['a','b']")) == ("s",)
    assert clean_pydantic_loc(("q", "constrained-int")) == ("q",)
    assert clean_pydantic_loc(("p", "dict[str,float]", "k", "bool")) == ("p", "k")
    # A real key that looks a bit like a label is kept.
    assert clean_pydantic_loc(("params", "ev[1]", "int")) == ("params", "ev[1]")
    tags = {"file", "constant"}
    assert clean_pydantic_loc(("profiles", "h", "file", "file"), tags) == ("profiles", "h", "file")
    assert clean_pydantic_loc(("profiles", "h", "file", "column"), tags) == (
        "profiles",
        "h",
        "column",
    )
    assert clean_pydantic_loc(("profiles", "c", "constant", "value", "float"), tags) == (
        "profiles",
        "c",
        "value",
    )
    assert clean_pydantic_loc(("profiles", "h", "file"), ()) == ("profiles", "h", "file")


def test_clean_pydantic_loc_on_real_pydantic_errors() -> None:
    from typing import Annotated, Literal

    from pydantic import AfterValidator, BaseModel, Field, ValidationError

    class File(BaseModel):
        kind: Literal["file"]
        file: str

    class Const(BaseModel):
        kind: Literal["constant"]
        value: float

    class Spec(BaseModel):
        step_s: Annotated[float, AfterValidator(lambda v: v)] | str
        profiles: dict[str, Annotated[File | Const, Field(discriminator="kind")]]

    with pytest.raises(ValidationError) as info:
        Spec.model_validate(
            {"step_s": [], "profiles": {"h": {"kind": "file"}, "c": {"kind": "constant"}}}
        )
    paths = {clean_pydantic_loc(e["loc"], {"file", "constant"}) for e in info.value.errors()}
    assert paths == {("step_s",), ("profiles", "h", "file"), ("profiles", "c", "value")}


# ------------------------------------------------------------------------- round trip


def leaf_paths(node: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every path of a parsed document whose value is neither a table nor an array."""
    if isinstance(node, dict):
        items: list[tuple[str | int, Any]] = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return [prefix]
    out: list[KeyPath] = [prefix] if not items else []
    for key, value in items:
        out += leaf_paths(value, (*prefix, key))
    return out


def check_round_trip(text: str) -> int:
    """Every leaf (and each of its ancestors) is written exactly where ``locate`` says."""
    positions = TomlPositions.from_text(text)
    lines = text.splitlines()
    checked = 0
    for leaf in leaf_paths(tomllib.loads(text)):
        for n in range(1, len(leaf) + 1):
            path = leaf[:n]
            assert path in positions, path
            pos = positions.locate(path)
            assert pos is not None
            here = text_at(text, pos)
            last = path[-1]
            if isinstance(last, int):
                continue  # an element: checked below for leaves, by the header for tables
            assert last in lines[pos[0] - 1] or here[0] in "\"'", (path, pos)
            assert here.startswith(last) or here[0] in "\"'", (path, pos, here)
        if isinstance(leaf[-1], int):
            value: Any = tomllib.loads(text)
            for part in leaf:
                value = value[part]
            here = text_at(text, positions.locate(leaf))
            if isinstance(value, str):
                assert here[0] in "\"'", (leaf, here)
            elif isinstance(value, bool):
                assert here.startswith(str(value).lower()), (leaf, here)
            elif isinstance(value, int | float):
                assert here[0] in "+-0123456789in", (leaf, here)
        checked += 1
    return checked


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_round_trip_on_shipped_scenarios(scenario: Path) -> None:
    assert check_round_trip(scenario.read_text(encoding="utf-8")) > 10


def test_shipped_scenarios_exist() -> None:
    assert {p.name for p in SCENARIOS} >= {"demo.toml", "terni_v2g.toml"}


TRICKY = """\
# leading comment
title = "t" # trailing
"quoted key" = 1
'lit.key' = 2
a.b . c = 3
nums = [
  1,   # one
  2.5,
  -3,
  [true, false],
  { x = 1, "y z" = [inf, nan] },
]
ml = \"\"\"
[not_a_table]
key = "no"
\"\"\"
lit = '''
[[nope]]
'''
when = 1979-05-27T07:32:00-08:00
day = 1979-05-27

[tab]
k = "v"
in.line = { p = 1, q = { r = 2 } }

[[arr]]
n = 1
[arr.sub]
m = 'x'
[[arr.deep]]
z = 0

[[arr]]
n = 2
'"odd"' = 3
"""


def test_round_trip_on_a_document_with_every_construct() -> None:
    assert check_round_trip(TRICKY) > 20
    pos = TomlPositions.from_text(TRICKY)
    assert ("not_a_table",) not in pos
    assert ("nope",) not in pos
    assert pos.locate(("arr", 1, '"odd"')) == (36, 1)
    assert pos.locate(("nums", 4, "y z", 1)) == (11, 26)


EDGE_CASES = [
    "[a] # c\nx = 1\n",
    '"" = 1\n[b]\n"" = 2\n',
    "x = { a = [ { b = 1 }, { c = [1, {d = 2}] } ] }\n",
    "[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2\n",
    "[ \"x.y\" . 'z' ]\nk = 1\n",
    "s = 'a # ] } ,'\nt = 2\n",
    's = """a \\\n   b \\""" c"""\nt = 2\n',
    "h = 0xff\nu = 1_000\np = +inf\nq = -nan\nd = 07:32:00\n",
    "e = ''''''\nf = '''''''\ng = 1\n",
    'e = """"""\nf = """"a"""""\ng = 1\n',
    "[a.b.c]\n[a]\n[a.b]\nz = 1\n",
    "a = [[1, 2], [\"x\", 'y'], [{}, []]]\n",
    'a=1\nb="x"#c\nc=[1,2]#d\n',
    "[[x.y]]\n[[x.y]]\nz = 1\n[[x.y.w]]\nq = 2\n",
    "[a]\n\tk\t=\t1\n",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_round_trip_on_edge_cases(text: str) -> None:
    assert check_round_trip(text) >= 1
