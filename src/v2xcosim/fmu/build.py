"""Modelica → FMI 2.0 FMU pipeline (Model Exchange + Co-Simulation), without OpenModelica.

Steps for one model (see ``models/README.md`` and the module docs of
:mod:`v2xcosim.fmu.subset`); this module runs them, the others do them:

1. check the sources against the supported subset (file, line, construct on failure;
   :func:`v2xcosim.fmu.codegen.check_subset`);
2. compile the model with rumoca and render the project's own code-generation target
   (``fmu/target/``: the C kernel ``kernel.c`` and the layout/variable metadata ``meta.json``;
   :func:`v2xcosim.fmu.codegen.generate`, read by :func:`v2xcosim.fmu.meta.parse_meta`);
3. write ``v2x_config.h`` (sizes, start values, nominals, names; :mod:`v2xcosim.fmu.codegen`) and
   ``modelDescription.xml`` (:mod:`v2xcosim.fmu.model_description`);
4. compile ``binaries/linux64/<id>.so`` with the machine's C compiler from the kernel and the
   generic shell ``fmu/shell/`` (:mod:`v2xcosim.fmu.toolchain`); ship all of it in ``sources/``;
5. zip reproducibly (sorted entries, fixed time stamps and permissions) and cache by a content hash
   of model sources, pipeline files, compiler and flags, fleet size and build options
   (:mod:`v2xcosim.fmu.cache`).

Which models exist, and with which solver, says ``models/fmus.toml``
(:mod:`v2xcosim.fmu.registry`).  A fleet FMU (``--fleet N``) compiles the same single-vehicle
kernel once; the shell replicates it N times at run time, so build time does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import check_writable_dir
from v2xcosim.fmu.cache import cache_key, install, prune_cache, source_digest, write_zip
from v2xcosim.fmu.codegen import blocks_source, check_subset, config_header, generate
from v2xcosim.fmu.meta import parse_meta
from v2xcosim.fmu.model_description import model_description
from v2xcosim.fmu.registry import fmus_dir, identifier_for, models_dir, read_registry
from v2xcosim.fmu.toolchain import (
    CFLAGS,
    FMI2_HEADERS,
    PIPELINE_VERSION,
    SHELL_MAIN,
    compile_binary,
    compiler_id,
    find_compiler,
    fmi2_headers_dir,
    platform_dir,
    shell_sources,
)

__all__ = ["BuildResult", "build_fmu", "build_one", "register"]


@dataclass(frozen=True)
class BuildResult:
    """Outcome of building one FMU."""

    path: Path
    identifier: str
    cached: bool
    seconds: float
    key: str


def build_fmu(
    name: str,
    *,
    fleet: int | None = None,
    out_dir: Path | None = None,
    mdir: Path | None = None,
    force: bool = False,
) -> Path:
    """Build (or take from the cache) the FMU of model ``name``; returns the ``.fmu`` path."""
    return build_one(name, fleet=fleet, out_dir=out_dir, mdir=mdir, force=force).path


def build_one(
    name: str,
    *,
    fleet: int | None = None,
    out_dir: Path | None = None,
    mdir: Path | None = None,
    force: bool = False,
) -> BuildResult:
    """Build one model (optionally a fleet of ``fleet`` copies) into ``out_dir``."""
    t0 = time.perf_counter()
    mdir = (mdir or models_dir()).resolve()
    out_dir = (out_dir or fmus_dir()).resolve()
    registry = read_registry(mdir)
    if name not in registry:
        listed = ", ".join(sorted(registry)) or "(none)"
        raise ScenarioError(f"unknown model {name!r}; models/fmus.toml lists: {listed}")
    if fleet is not None and fleet < 1:
        raise ScenarioError(f"--fleet must be a positive integer, got {fleet}")
    entry = registry[name]
    # what the user can fix in the sources is reported before what the machine lacks
    check_subset(mdir)
    cc = find_compiler()
    ident = identifier_for(name, fleet)
    key = cache_key(entry, mdir, fleet, cc)
    cache = out_dir / ".cache"
    cached_fmu = cache / f"{ident}-{key[:24]}.fmu"
    dest = out_dir / f"{ident}.fmu"
    if cached_fmu.is_file() and not force:
        try:
            os.utime(cached_fmu)  # recently used: kept by prune_cache
            if not dest.is_file() or dest.read_bytes() != cached_fmu.read_bytes():
                install(cached_fmu, dest)
            return BuildResult(dest, ident, True, time.perf_counter() - t0, key)
        except FileNotFoundError:
            pass  # pruned by a concurrent build of another version: build it again

    kernel_c, meta = generate(entry, mdir)
    info = parse_meta(meta)
    guid = "{" + str(uuid.UUID(key[:32])) + "}"
    headers = fmi2_headers_dir()
    src_files: dict[str, bytes] = {
        "kernel.c": kernel_c.encode(),
        **shell_sources(),
        "v2x_config.h": config_header(info, entry, fleet, guid).encode(),
        "v2x_blocks.c": blocks_source(info, meta["algebraic_blocks"]).encode(),
    }
    for h in FMI2_HEADERS:
        src_files[h] = (headers / h).read_bytes()
    md = model_description(info, entry, ident, fleet, guid, [SHELL_MAIN])
    with tempfile.TemporaryDirectory(prefix="v2x-build-") as td:
        tdir = Path(td)
        for fn, data in src_files.items():
            (tdir / fn).write_bytes(data)
        binary = compile_binary(cc, tdir, f"{ident}.so", name)
    files: dict[str, bytes] = {"modelDescription.xml": md.encode()}
    for fn, data in src_files.items():
        files[f"sources/{fn}"] = data
    files[f"binaries/{platform_dir()}/{ident}.so"] = binary
    build_info = {
        "model": name,
        "class": entry.modelica_class,
        "fleet": fleet or 0,
        "cache_key": key,
        "model_sources_sha256": source_digest(mdir),
        "pipeline_version": PIPELINE_VERSION,
        "compiler": compiler_id(cc),
        "cflags": list(CFLAGS),
        "solver": entry.solver,
        "states": info.nx,
        "y_scalars": info.ny,
        "p_scalars": info.np,
    }
    build_json = json.dumps(build_info, indent=2, sort_keys=True) + "\n"
    files["resources/v2x_build.json"] = build_json.encode()
    cache.mkdir(parents=True, exist_ok=True)  # only now: a failed build leaves no empty folders
    write_zip(cached_fmu, files)
    prune_cache(cache, ident, keep=cached_fmu)
    install(cached_fmu, dest)
    return BuildResult(dest, ident, False, time.perf_counter() - t0, key)


# --------------------------------------------------------------------------- CLI --------------
def _cmd_build(args: argparse.Namespace) -> int:
    mdir = Path(args.models).resolve() if args.models else models_dir()
    registry = read_registry(mdir)
    names = list(args.model) or sorted(registry)
    out = Path(args.out).resolve() if args.out else fmus_dir()
    check_writable_dir(Path(args.out) if args.out else out, "--out")
    for n in names:
        res = build_one(n, fleet=args.fleet, out_dir=out, mdir=mdir, force=args.force)
        how = "cached" if res.cached else f"built in {res.seconds:.2f} s"
        print(f"{res.identifier}: {res.path} ({how})")
    return 0


def register(fmu_sub: Any) -> None:
    """Add ``v2xcosim fmu build`` to the ``fmu`` command group."""
    p = fmu_sub.add_parser(
        "build",
        help="build FMI 2.0 FMUs (ME + CS) from the Modelica models",
        description="Build FMI 2.0 FMUs from models/ (listed in models/fmus.toml).",
    )
    p.add_argument("model", nargs="*", help="model names from models/fmus.toml (default: all)")
    p.add_argument("--out", help="output directory (default: fmus/)")
    p.add_argument("--fleet", type=int, help="one FMU with N copies of the model (ev[1..N].*)")
    p.add_argument("--models", help="model directory (default: models/)")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached FMU matches")
    p.set_defaults(handler=_cmd_build)
