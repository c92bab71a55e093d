#!/usr/bin/env python3
"""Checks the crate layering against Cargo.toml, and ARCHITECTURE.md against both.

Front ends (the CLI, the inference server) call the engine and nothing below
it: their normal dependencies inside the workspace may only be the engine
(`warden`), the vocabulary (`warden-core`) and other front ends. No library
crate may depend on the engine or a front end. The dependency block of
ARCHITECTURE.md (between the `crate-graph` markers) must be exactly what
`cargo metadata` reports; `--write` regenerates it.

Usage: scripts/check-layers.py [--write]
Exit 0 when everything holds, 1 with every violation listed otherwise.
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRONT_ENDS = {"warden-cli", "warden-server"}
ENGINE = "warden"
ALLOWED_FOR_FRONT_ENDS = {ENGINE, "warden-core"} | FRONT_ENDS
BEGIN = "<!-- crate-graph:begin (scripts/check-layers.py --write) -->"
END = "<!-- crate-graph:end -->"


def workspace_graph():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    meta = json.loads(out)
    names = {p["name"] for p in meta["packages"]}
    graph = {}
    for p in meta["packages"]:
        deps = sorted(
            d["name"] for d in p["dependencies"]
            if d["name"] in names and d.get("kind") is None
        )
        graph[p["name"]] = deps
    return graph


def render(graph):
    width = max(len(n) for n in graph)
    # Top-down: front ends, the engine, then the rest by how many depend on them.
    def rank(n):
        if n in FRONT_ENDS:
            return (0, -len(graph[n]), n)
        if n == ENGINE:
            return (1, 0, n)
        return (2, -len(graph[n]), n)
    lines = ["```"]
    for n in sorted(graph, key=rank):
        deps = ", ".join(graph[n]) if graph[n] else "(no workspace crate)"
        lines.append(f"{n.ljust(width)}  ->  {deps}")
    lines.append("```")
    return "\n".join(lines)


def main():
    graph = workspace_graph()
    problems = []
    for fe in sorted(FRONT_ENDS & graph.keys()):
        for d in graph[fe]:
            if d not in ALLOWED_FOR_FRONT_ENDS:
                problems.append(
                    f"{fe} depends on {d}: front ends call the engine (`warden`) and nothing below it"
                )
    for lib, deps in sorted(graph.items()):
        if lib in FRONT_ENDS or lib == ENGINE:
            continue
        for d in deps:
            if d == ENGINE or d in FRONT_ENDS:
                problems.append(f"{lib} depends on {d}: dependencies point down only")
    arch = ROOT / "ARCHITECTURE.md"
    text = arch.read_text()
    block = render(graph)
    if BEGIN not in text or END not in text:
        problems.append(f"ARCHITECTURE.md has no `{BEGIN}` … `{END}` block")
    else:
        head, rest = text.split(BEGIN, 1)
        current, tail = rest.split(END, 1)
        if current.strip() != block:
            if "--write" in sys.argv[1:]:
                arch.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")
                print("ARCHITECTURE.md: crate graph rewritten")
            else:
                problems.append(
                    "ARCHITECTURE.md's crate graph differs from Cargo.toml; run scripts/check-layers.py --write"
                )
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"layering: {len(graph)} crates, front ends call only the engine, ARCHITECTURE.md current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
