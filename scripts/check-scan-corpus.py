#!/usr/bin/env python3
"""Compares a `warden scan --format json` report of the generated corpus
(scripts/scan-corpus.sh) with the corpus manifest: every malicious file must
carry a finding at or above medium, no benign file may, and no file may be
unscanned or fail. Prints each mismatch and exits 1 if there is any.

Usage: check-scan-corpus.py REPORT.json CORPUS_DIR
"""
import json
import os
import sys

RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def main() -> int:
    report = json.load(open(sys.argv[1]))
    corpus = sys.argv[2]
    manifest = json.load(open(os.path.join(corpus, "manifest.json")))
    by_path = {}
    for f in report["files"]:
        rel = os.path.relpath(f["path"], corpus)
        by_path[rel] = f
    bad = []
    tp = fp = 0
    for entry in manifest["files"]:
        f = by_path.get(entry["path"])
        if f is None:
            bad.append(f"{entry['path']}: not in the report")
            continue
        if f["status"] in ("error", "unscanned"):
            bad.append(f"{entry['path']}: {f['status']} ({f.get('error') or f['format']})")
            continue
        flagged = any(RANK[x["severity"]] >= RANK["medium"] for x in f["findings"])
        if entry["expect"] == "finding":
            tp += flagged
            if not flagged:
                bad.append(f"{entry['path']} ({entry['family']}): malicious, reported clean")
        else:
            fp += flagged
            if flagged:
                rules = ", ".join(f"{x['rule']}: {x['message']}" for x in f["findings"])
                bad.append(f"{entry['path']}: benign, flagged ({rules})")
    mal = sum(1 for e in manifest["files"] if e["expect"] == "finding")
    ben = len(manifest["files"]) - mal
    print(f"corpus: {tp}/{mal} malicious flagged, {fp}/{ben} benign flagged")
    for b in bad:
        print("MISMATCH:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
