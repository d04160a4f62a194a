#!/usr/bin/env python3
"""No import cycles between the top-level modules of a crate, and web's doors apart
(shared/DESIGN.md §2).

For every crate under crates/, each top-level module (src/NAME.rs or src/NAME/) is a node and
every path that names another top-level module (`crate::other::…`, or `super::other::…` from a
top-level file) is an edge. Comments are ignored, so a doc link does not count. Any strongly
connected component with more than one module is a cycle: the script prints it and fails.

In medibook-web the doors (the JSON API, the pages, the live feed, FHIR) import the shell and never
each other, and the shell imports no door: a shared piece lives in the shell.

Usage: scripts/check-module-cycles.py [CRATE_DIR ...]   (default: every crate in crates/)
"""

import re
import sys
from pathlib import Path

ROOT_FILES = {"lib.rs", "main.rs"}
# crate directory -> (shell module, door modules)
DOORS = {"web": ("shell", ("api", "pages", "feed", "fhir"))}


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def modules_of(src: Path) -> dict[str, list[Path]]:
    modules: dict[str, list[Path]] = {}
    for entry in sorted(src.iterdir()):
        if entry.is_file() and entry.suffix == ".rs" and entry.name not in ROOT_FILES:
            modules.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir() and entry.name != "bin":
            modules.setdefault(entry.name, []).extend(sorted(entry.rglob("*.rs")))
    return modules


def edges_of(modules: dict[str, list[Path]], src: Path) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules}
    crate_path = re.compile(r"\bcrate::(?:\{\s*)?([a-z_][a-z0-9_]*)")
    crate_group = re.compile(r"\bcrate::\{([^}]*)\}", re.S)
    super_path = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")
    for name, files in modules.items():
        for file in files:
            text = strip_comments(file.read_text(encoding="utf-8"))
            found = set(crate_path.findall(text))
            for group in crate_group.findall(text):
                found.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
            if file.parent == src:
                found.update(super_path.findall(text))
            edges[name].update(other for other in found if other in modules and other != name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, keeping those with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    crates = [Path(arg) for arg in sys.argv[1:]] or sorted((root / "crates").iterdir())
    failed = False
    for crate in crates:
        src = crate / "src"
        if not src.is_dir():
            continue
        modules = modules_of(src)
        edges = edges_of(modules, src)
        for component in cycles(edges):
            failed = True
            links = [
                f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component
            ]
            print(f"{crate.name}: modules import each other: {', '.join(component)}", file=sys.stderr)
            print(f"  edges: {'; '.join(links)}", file=sys.stderr)
        shell, doors = DOORS.get(crate.name, (None, ()))
        for module in (shell, *doors):
            if module is None or module not in edges:
                continue
            crossed = sorted(edges[module] & (set(doors) - {module}))
            if crossed:
                failed = True
                print(f"{crate.name}: {module} imports the door(s) {', '.join(crossed)}", file=sys.stderr)
    if failed:
        return 1
    print(f"module check: ok ({len(crates)} crates, no import cycles between modules; web's doors apart)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
