#!/usr/bin/env python3
"""Writes warden-data's name gazetteer (crates/warden-data/data/): the most
frequent first names and surnames of the US Census Bureau's 1990 name
frequency lists (public domain), as shipped by the PyPI package `names`.

  first_names.txt  the FIRST most frequent female and male first names
  surnames.txt     the LAST most frequent surnames

One upper-case name a line, most frequent first, after a `#` header naming
the source. Run through scripts/pii-gazetteer.sh, which builds the pinned
virtualenv. Usage: pii-gazetteer.py [--first N] [--last N]
"""

import argparse
from pathlib import Path

import names

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "crates" / "warden-data" / "data"


def ranked(path):
    """(name, frequency in percent) in the file's order (most frequent first)."""
    out = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0], float(parts[1])))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=3000)
    ap.add_argument("--last", type=int, default=5000)
    args = ap.parse_args()
    data = Path(names.__file__).parent
    # Female and male lists merged by frequency; a name on both keeps its
    # higher share.
    first = {}
    for f in ("dist.female.first", "dist.male.first"):
        for n, p in ranked(data / f):
            first[n] = max(first.get(n, 0.0), p)
    firsts = sorted(first, key=lambda n: (-first[n], n))[: args.first]
    lasts = [n for n, _ in ranked(data / "dist.all.last")][: args.last]
    OUT.mkdir(parents=True, exist_ok=True)
    src = "US Census Bureau, 1990 census name frequency lists (public domain), via PyPI names==0.3.0"
    (OUT / "first_names.txt").write_text(
        f"# The {len(firsts)} most frequent first names (female and male lists merged). {src}.\n"
        + "\n".join(firsts) + "\n")
    (OUT / "surnames.txt").write_text(
        f"# The {len(lasts)} most frequent surnames. {src}.\n" + "\n".join(lasts) + "\n")
    print(f"wrote {len(firsts)} first names and {len(lasts)} surnames to {OUT}")


if __name__ == "__main__":
    main()
