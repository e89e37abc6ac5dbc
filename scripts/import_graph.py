"""Print macs's package-level import graph, counting imports inside functions too.

    python scripts/import_graph.py            # edges, cycles, lines per package
    python scripts/import_graph.py --edges    # every module-level edge with its source lines

A "package" is the first name under `macs.` (`macs.data.corpus.store` -> `corpus`; a top-level
module such as `macs.select.online` is its own package). The graph reads every `import` and
`from ... import` statement with `ast`, wherever it stands (module level, inside a function,
under `if TYPE_CHECKING:`), so it shows the arrows that function-local imports hide. It is
the "layer picture" of issue 21 (one room per idea): run it before and after a reshaping.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "macs"


def module_name(path: Path) -> str:
    """`src/macs/data/corpus/store.py` -> `macs.data.corpus.store` (`__init__` names the package)."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# layer of each top package under macs; `macs` itself (__init__, __main__) sits on top
LAYERS = {"core": 0, "data": 1, "train": 2, "eval": 3, "select": 3, "app": 4, "macs": 5}


def layer_of(module: str) -> str:
    """`macs.data.corpus.store` -> `data`; `macs` and `macs.__main__` -> `macs`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "macs"


def package_of(module: str) -> str:
    """The graph's node of a module (see the module doc)."""
    parts = module.split(".")
    if len(parts) >= 3 and (ROOT.joinpath(*parts[1:3])).is_dir():
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "macs"


def upward_imports() -> list[str]:
    """`file:line: a -> b (why)` for every import that breaks the layer contract."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        me = module_name(path)
        a = layer_of(me)
        if me not in ("macs", "macs.__main__") and a == "macs":
            out.append(f"{path.relative_to(ROOT.parent)}:1: {me} is in no layer (LAYERS)")
            continue
        if a == "macs":
            continue
        for target, lineno, _ in imports_of(path):
            b = layer_of(target)
            if target == "macs" or a == b:
                continue
            if b not in LAYERS or LAYERS[b] >= LAYERS[a]:
                why = "same layer" if LAYERS.get(b) == LAYERS[a] else "upward"
                out.append(f"{path.relative_to(ROOT.parent)}:{lineno}: {me} -> {target} ({why})")
    return out


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported macs module, line, inside a function) for every import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path)
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend(
                    (a.name, child.lineno, in_func)
                    for a in child.names
                    if a.name.startswith("macs")
                )
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this module's package
                    base = me.split(".") if is_pkg else me.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("macs"):
                    out.append((target, child.lineno, in_func))
            visit(child, func)

    visit(tree, False)
    return out


def graph() -> tuple[dict, dict[str, int], int, int]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    lines: dict[str, int] = defaultdict(int)
    n_imports = n_local = 0
    for path in sorted(ROOT.rglob("*.py")):
        src_pkg = package_of(module_name(path))
        lines[src_pkg] += sum(1 for _ in path.open(encoding="utf-8"))
        for target, lineno, in_func in imports_of(path):
            n_imports += 1
            n_local += in_func
            dst_pkg = package_of(target)
            if dst_pkg != src_pkg and target != "macs":
                edges[(src_pkg, dst_pkg)].append(f"{path.relative_to(ROOT)}:{lineno}")
    return edges, lines, n_imports, n_local


def strongly_connected(nodes: set[str], edges) -> list[list[str]]:
    """Tarjan's algorithm: the package cycles (components with more than one package)."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return comps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", action="store_true", help="list the source lines of every edge")
    ap.add_argument("--check", action="store_true", help="exit 1 on a broken contract")
    args = ap.parse_args(argv)
    edges, lines, n_imports, n_local = graph()
    nodes = set(lines)
    if args.check:
        bad = upward_imports()
        comps = strongly_connected(nodes, edges)
        for b in bad:
            print(b)
        for comp in comps:
            print(f"cycle: {' '.join(comp)}")
        print(f"import contract: {len(bad)} upward imports, {len(comps)} package cycles")
        return 1 if bad or comps else 0
    print(
        "layers (low to high): "
        + " < ".join(
            "/".join(k for k, v in LAYERS.items() if v == n) for n in sorted(set(LAYERS.values()))
        )
    )
    print(
        f"{len(nodes)} packages, {sum(lines.values())} lines, {n_imports} internal imports "
        f"({n_local} inside functions)"
    )
    print("\nlines per package:")
    for pkg, n in sorted(lines.items(), key=lambda kv: -kv[1]):
        print(f"  {pkg:<18} {n:>6}")
    print("\npackage edges (count of import statements):")
    for (a, b), where in sorted(edges.items()):
        print(f"  {a} -> {b} ({len(where)})")
        if args.edges:
            for w in where:
                print(f"      {w}")
    comps = strongly_connected(nodes, edges)
    print(f"\ncycles between packages: {len(comps)}")
    for comp in comps:
        print(f"  {len(comp)} packages: {' '.join(comp)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
