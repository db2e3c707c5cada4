#!/usr/bin/env python3
"""Lists import cycles between the top-level modules of a crate.

A module is a file `src/<name>.rs` or a folder `src/<name>/`; it depends on another when any of its files names
`crate::<other>` in code (a `use` line or a path; comments are not code). Test code is left out: files named
`tests.rs` or under a `tests/` folder, the `testing` module (test support), and a file's inline
`#[cfg(test)] mod tests { … }` (the house puts it last, so everything from there on). Prints every cycle (strongly connected group of two or more
modules) and exits 1 when there is one. Usage: scripts/module-cycles.py crates/pxrelay crates/projectx
"""
import pathlib
import re
import sys

CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)


def modules(src: pathlib.Path) -> dict[str, list[pathlib.Path]]:
    found: dict[str, list[pathlib.Path]] = {}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src)
        if rel.parts[0] in ("lib.rs", "main.rs", "testing.rs") or "tests" in rel.parts or rel.name == "tests.rs":
            continue
        name = rel.parts[0].removesuffix(".rs")
        found.setdefault(name, []).append(path)
    return found


def edges(mods: dict[str, list[pathlib.Path]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, files in mods.items():
        for f in files:
            text = re.split(r"#\[cfg\(test\)\](?:\s*#\[[^\n]*\])*\s*mod\s+tests\s*\{", f.read_text())[0]
            text = "\n".join(line.split("//")[0] for line in text.splitlines())
            targets = set(CRATE_PATH.findall(text))
            for group in USE_GROUP.findall(text):
                targets.update(re.findall(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)(?=::|\s*[,}]|\s*$)", group))
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    failed = False
    for crate in sys.argv[1:] or ["crates/pxrelay", "crates/projectx"]:
        graph = edges(modules(pathlib.Path(crate) / "src"))
        found = cycles(graph)
        print(f"{crate}: {len(graph)} modules, {sum(len(v) for v in graph.values())} edges, {len(found)} cycles")
        for group in found:
            failed = True
            pairs = [f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group]
            print(f"  cycle: {', '.join(group)} ({'; '.join(pairs)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
