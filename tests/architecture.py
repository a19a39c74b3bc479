"""Architecture check of ``src/v2xcosim``: no import cycle between any two modules.

The floors themselves are import-linter's layer contract (``pyproject.toml``); this adds what a
layer contract cannot see: a cycle between modules of one floor or one package (module- or
function-level imports alike; only ``if TYPE_CHECKING:`` blocks are exempt).  Run by
``make lint`` (``python tests/architecture.py``) and by ``tests/test_architecture.py``.
"""

from __future__ import annotations

import sys

import grimp


def import_cycles(package: str = "v2xcosim") -> list[list[str]]:
    """Return every strongly connected set of two or more modules (an import cycle), sorted."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:  # iterative Tarjan: no recursion limit on deep graphs
        nonlocal counter
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                members = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    members.append(top)
                    if top == node:
                        break
                if len(members) > 1:
                    cycles.append(sorted(members))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    for module in modules:
        if module not in index:
            visit(module)
    return sorted(cycles)


def main() -> int:
    """Print the import cycles of ``v2xcosim``; exit 1 if there is any."""
    cycles = import_cycles()
    for members in cycles:
        print("import cycle: " + " <-> ".join(members))
    print(f"import cycles in v2xcosim: {len(cycles)}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
