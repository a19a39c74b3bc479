"""Suite-wide collection order: the test files holding ``slow`` tests run first.

``make test`` runs the files on two pytest-xdist workers, a file at a time per worker
(``--dist loadfile``), in collection order.  With the long files last (alphabetically, the Porto
and Terni use cases), one worker ends up alone with a ten-minute file while the other idles;
starting the files that hold ``slow`` tests first lets the short ones fill the gaps at the end.
The order of the tests inside a file, and of the files within each group, is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared_runs import SharedRuns


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the files that hold a ``slow``-marked test before the others (stable)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SharedRuns:
    """The session's shared run folders (one root for all xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    return SharedRuns((base if worker_id == "master" else base.parent) / "shared-runs")


@pytest.fixture(scope="session", autouse=True)
def fmu_description_cache(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[None]:
    """Point the FMU description cache at the session's temporary folder (shared by workers).

    Tests never write to the user's cache; simulator processes inherit the variable.
    """
    from v2xcosim.fmu.variable_table import CACHE_ENV

    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "fmu-descriptions"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(root))
        yield
