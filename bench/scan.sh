#!/usr/bin/env bash
# `warden scan` against the Python scanners picklescan, modelscan and fickling
# (and detect-secrets for `--secrets`):
#   1. detection on the corpus of scripts/scan-corpus.sh: each tool scans each
#      file on its own; per tool, true positives / N malicious, false positives
#      / N benign, errors (crash, timeout, the tool's own error exit) and files
#      it did not scan; a per-file matrix and a TSV go to WORK/results/;
#   2. speed and peak memory on (a) a ~500 MB pickle (50 float32 arrays of
#      10 MiB, protocol 4), (b) a ~1 GB safetensors file, (c) a directory of
#      1,000 mixed files (the corpus, small benign pickles/npy/safetensors and
#      text), with hyperfine when installed (else /usr/bin/time), peak RSS from
#      /usr/bin/time -v (the largest single process: a tool's worker processes
#      are not added up);
#   3. secrets: `detect-secrets scan --all-files` vs `warden scan --secrets` on
#      the benchmark virtualenv's site-packages (time, peak RSS, finding count).
# The tools come from PyPI (pinned below) into a virtualenv at
# ${WARDEN_SCAN_BENCH_VENV:-$HOME/.cache/warden/venv-scan-bench}. warden is
# $WARDEN or target/release/warden (not built here); without a `warden scan`
# the warden rows are skipped and the rest still runs.
# Usage: bench/scan.sh [WORKDIR]   (default target/bench-scan; big files kept)
#   WARDEN_BENCH_RUNS=3        timed runs per tool and target
#   WARDEN_BENCH_TIMEOUT=900   seconds before one run counts as a timeout
#   WARDEN_SCAN_ARGS="..."     extra arguments for every `warden scan`
#   WARDEN_BENCH_SKIP=big      skip the timing section (or: detect, secrets)
#
# How each tool's verdict is read (from the pinned versions' sources/--help):
#   picklescan -p FILE: exit 0 no dangerous globals, 1 dangerous globals found,
#     2 scan error (it exits 2 even when it also found dangerous globals, so
#     "Dangerous globals: N" > 0 in the summary counts as flagged first).
#     "Scanned files: 0" (an extension it ignores) counts as not scanned.
#   modelscan -p FILE -r json -o OUT: exit 0 no issues, 1 issues found,
#     2 scan errors (also when issues were found: total_issues > 0 in OUT
#     counts as flagged first), 3 no supported file scanned, 4 usage error.
#   fickling --check-safety FILE: exit 0 likely safe, 1 unsafe, 2 error (e.g.
#     not parseable as pickle: zip, safetensors...). An uncaught exception also
#     exits 1, so a Python traceback on stderr counts as an error. It parses
#     the file as stacked pickles only (no zip support for local files) and
#     writes a report (--json-output, kept out of the working tree).
#   warden scan FILE --format json: exit 6 findings at/above --fail-on
#     (default medium) = flagged, 0 = clean unless a file's status is
#     "unscanned" or "error", 1 = error.
#   Any other exit code, a signal or a timeout is an error, never clean.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-scan}" && cd "${1:-$REPO/target/bench-scan}" && pwd)"
VENV="${WARDEN_SCAN_BENCH_VENV:-$HOME/.cache/warden/venv-scan-bench}"
CORPUS_VENV="${WARDEN_SCAN_VENV:-$HOME/.cache/warden/venv-scan-corpus}"
export WARDEN_SCAN_VENV="$CORPUS_VENV"
PYTHON="${PYTHON:-python3}"
# The four tools, then their dependencies, pinned too (fickling 0.1.12
# imports typing_extensions without declaring it).
PINS="picklescan==1.0.5 modelscan==0.8.8 fickling==0.1.12 detect-secrets==1.5.0 typing_extensions==4.16.0"
PINS="$PINS numpy==2.4.6 click==8.5.1 rich==14.3.4 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0"
PINS="$PINS tomlkit==0.13.3 PyYAML==6.0.4 requests==2.34.2 certifi==2026.10.19.post1"
PINS="$PINS charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0"
# shellcheck disable=SC2086
PYTHON="$PYTHON" "$REPO/scripts/pinned-venv.sh" "$VENV" $PINS

echo "== corpus"
scripts/scan-corpus.sh "$WORK/corpus"

echo "== big files and the 1,000-file directory (kept in $WORK/data)"
PYTHONHASHSEED=0 "$CORPUS_VENV/bin/python" - "$WORK" <<'PY'
import io, json, os, pickle, shutil, struct, sys
import numpy as np
from safetensors import safe_open

work = sys.argv[1]
data = os.path.join(work, "data")
os.makedirs(data, exist_ok=True)
done = os.path.join(data, ".done-v1")
if os.path.exists(done):
    sys.exit(0)
rng = np.random.default_rng(1234)
# (a) ~500 MB pickle: 50 float32 arrays of 10 MiB, protocol 4.
big = {f"layer{i:02d}.weight": rng.standard_normal(10 * 2**20 // 4, dtype=np.float32) for i in range(50)}
with open(os.path.join(data, "big.pkl"), "wb") as f:
    pickle.dump(big, f, protocol=4)
del big
# (b) ~1 GB safetensors: 64 F32 tensors of 16 MiB, written as the library
# does (header padded to 8 bytes, tensors back to back), streamed.
n, shape = 64, [2048, 2048]
size = 4 * shape[0] * shape[1]
header = {"__metadata__": {"format": "pt"}}
for i in range(n):
    header[f"model.layers.{i:02d}.weight"] = {"dtype": "F32", "shape": shape,
                                             "data_offsets": [i * size, (i + 1) * size]}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
block = rng.standard_normal(size // 4, dtype=np.float32).tobytes()
with open(os.path.join(data, "big.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for i in range(n):
        f.write(block[i * 4:] + block[:i * 4])  # distinct tensors, same cost
with safe_open(os.path.join(data, "big.safetensors"), "np") as st:
    assert len(st.keys()) == n and st.get_tensor("model.layers.63.weight").shape == (2048, 2048)
# (c) 1,000 mixed files: every corpus file, then small benign files.
mixed = os.path.join(data, "mixed")
shutil.rmtree(mixed, ignore_errors=True)
os.makedirs(mixed)
corpus = json.load(open(os.path.join(work, "corpus", "manifest.json")))["files"]
i = 0
for e in corpus:
    shutil.copy(os.path.join(work, "corpus", e["path"]),
                os.path.join(mixed, f"{i:04d}-{os.path.basename(e['path'])}"))
    i += 1
kinds = ["pkl", "npy", "safetensors", "txt", "json", "py"]
while i < 1000:
    kind = kinds[i % len(kinds)]
    a = rng.standard_normal(int(rng.integers(8, 4096)), dtype=np.float32)
    path = os.path.join(mixed, f"{i:04d}-small.{kind}")
    if kind == "pkl":
        with open(path, "wb") as f:
            pickle.dump({"w": a, "step": i, "name": f"ckpt-{i}"}, f, protocol=[2, 4, 5][i % 3])
    elif kind == "npy":
        np.save(path, a)
    elif kind == "safetensors":
        from safetensors.numpy import save_file
        save_file({"w": a, "b": a[:4].copy()}, path)
    elif kind == "json":
        with open(path, "w") as f:
            json.dump({"lr": 0.001 * (i % 7), "layers": [int(x) for x in a[:8] * 100]}, f)
    elif kind == "py":
        with open(path, "w") as f:
            f.write(f"def f{i}(x):\n    return x * {i}\n")
    else:
        with open(path, "w") as f:
            f.write(f"note {i}: " + " ".join(str(x) for x in a[:64]) + "\n")
    i += 1
assert len(os.listdir(mixed)) == 1000
open(done, "w").close()
PY

W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/release/warden}"
export BENCH_WARDEN=""
if [ -x "$W" ] && "$W" scan --help >/dev/null 2>&1; then
  BENCH_WARDEN="$W"
else
  echo "note: no \`warden scan\` at $W (set WARDEN=...): warden rows are skipped"
fi
export BENCH_VENV="$VENV" BENCH_WORK="$WORK"
"$VENV/bin/python" - <<'PY'
import concurrent.futures as cf
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

VENV, WORK, W = os.environ["BENCH_VENV"], os.environ["BENCH_WORK"], os.environ["BENCH_WARDEN"]
RUNS = int(os.environ.get("WARDEN_BENCH_RUNS", "3"))
TIMEOUT = int(os.environ.get("WARDEN_BENCH_TIMEOUT", "900"))
SKIP = set(os.environ.get("WARDEN_BENCH_SKIP", "").replace(",", " ").split())
WARDEN_ARGS = shlex.split(os.environ.get("WARDEN_SCAN_ARGS", ""))
BIN = os.path.join(VENV, "bin")
RESULTS = os.path.join(WORK, "results")
os.makedirs(RESULTS, exist_ok=True)
SCRATCH = tempfile.mkdtemp(prefix="scan-bench-", dir=RESULTS)  # cwd and reports of the tools


def run(cmd, timeout, out=None):
    """Run without a shell in SCRATCH; returns (rc or 'timeout', stdout, stderr)."""
    try:
        p = subprocess.run(cmd, cwd=SCRATCH, stdin=subprocess.DEVNULL, capture_output=out is None,
                           stdout=out, stderr=subprocess.PIPE if out is not None else None,
                           timeout=timeout)
        return p.returncode, (p.stdout or b"").decode("utf-8", "replace"), (p.stderr or b"").decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


# ---- per-tool commands and verdicts: "flagged", "clean", "error", "unscanned"

def picklescan(path, strict=False):
    cmd = [f"{BIN}/picklescan", "-p", path] + (["--strict"] if strict else [])
    return cmd, lambda rc, out, err: picklescan_verdict(rc, out, err)


def picklescan_verdict(rc, out, err):
    m = re.search(r"Dangerous globals: (\d+)", out)
    if (m and int(m.group(1)) > 0) or "dangerous import" in out:
        return "flagged", f"rc={rc}"
    if rc != 0 or not m:
        return "error", f"rc={rc}"
    if re.search(r"Scanned files: 0\b", out):
        return "unscanned", "rc=0, scanned 0"
    return "clean", "parse warning" if "could not parse" in out + err else "rc=0"


def modelscan(path):
    report = tempfile.mktemp(suffix=".json", dir=SCRATCH)
    cmd = [f"{BIN}/modelscan", "-p", path, "-r", "json", "-o", report]
    return cmd, lambda rc, out, err: modelscan_verdict(rc, report)


def modelscan_verdict(rc, report):
    try:
        with open(report) as f:
            r = json.load(f)
        os.unlink(report)
    except (OSError, ValueError):
        r = None
    issues = r["summary"]["total_issues"] if r else 0
    if issues > 0:
        return "flagged", f"rc={rc}, {issues} issues"
    if rc == 0 and r is not None:
        return "clean", "rc=0"
    if rc == 3:
        return "unscanned", "rc=3"
    errs = "; ".join(str(e.get("description", e))[:80] for e in (r or {}).get("errors", []))
    return "error", f"rc={rc} {errs}".strip()


def fickling(path):
    report = tempfile.mktemp(suffix=".json", dir=SCRATCH)
    cmd = [f"{BIN}/fickling", "--check-safety", "--json-output", report, path]

    def verdict(rc, out, err):
        if os.path.exists(report):
            os.unlink(report)
        if "Traceback (most recent call last)" in err:
            return "error", f"rc={rc} traceback: {err.strip().splitlines()[-1][:80]}"
        return {0: ("clean", "rc=0"), 1: ("flagged", "rc=1")}.get(rc, ("error", f"rc={rc}"))
    return cmd, verdict


def warden(path, secrets=False):
    cmd = [W, "scan", path, "--format", "json"] + (["--secrets"] if secrets else []) + WARDEN_ARGS
    return cmd, lambda rc, out, err: warden_verdict(rc, out)


def warden_verdict(rc, out):
    try:
        r = json.loads(out)
        statuses = {f.get("status") for f in r.get("files", [])}
        detail = f"rc={rc}, max={r.get('max_severity')}"
    except (ValueError, AttributeError):
        r, statuses, detail = None, set(), f"rc={rc}, no JSON"
    if rc == 6:
        return "flagged", detail
    if rc == 0 and r is not None:
        if "error" in statuses:
            return "error", detail
        if "unscanned" in statuses or not statuses:
            return "unscanned", detail
        return "clean", detail
    return "error", detail


TOOLS = [("picklescan", picklescan), ("picklescan --strict", lambda p: picklescan(p, strict=True)),
         ("modelscan", modelscan), ("fickling", fickling)]
if W:
    TOOLS.append(("warden", warden))


def judge(tool, path, timeout=120):
    cmd, verdict = tool(path)
    rc, out, err = run(cmd, timeout)
    if rc == "timeout":
        return "error", "timeout"
    if isinstance(rc, int) and rc < 0:
        return "error", f"signal {-rc}"
    return verdict(rc, out, err)


# ---- 1. detection on the corpus
def detection():
    corpus = os.path.join(WORK, "corpus")
    files = json.load(open(os.path.join(corpus, "manifest.json")))["files"]
    jobs = {}
    with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for e in files:
            for name, tool in TOOLS:
                jobs[(e["path"], name)] = ex.submit(judge, tool, os.path.join(corpus, e["path"]))
    res = {k: f.result() for k, f in jobs.items()}
    names = [n for n, _ in TOOLS]
    with open(os.path.join(RESULTS, "detection.tsv"), "w") as f:
        f.write("path\texpect\tfamily\tformat\t" + "\t".join(f"{n}\t{n} detail" for n in names) + "\n")
        for e in files:
            f.write("\t".join([e["path"], e["expect"], e["family"], e["format"]]
                              + [x for n in names for x in res[(e["path"], n)]]) + "\n")
    code = {"flagged": "F", "clean": ".", "error": "E", "unscanned": "u"}
    print("\nPer file (F flagged, . clean, E error, u not scanned; * = wrong verdict):")
    print(f"  {'file':52} " + " ".join(f"{n:>{len(n)}}" for n in names))
    for e in files:
        cells = []
        for n in names:
            v = res[(e["path"], n)][0]
            wrong = (v != "flagged") if e["expect"] == "finding" else (v == "flagged")
            cells.append(f"{code[v] + ('*' if wrong else ''):>{len(n)}}")
        print(f"  {e['path'][:52]:52} " + " ".join(cells))
    mal = [e for e in files if e["expect"] == "finding"]
    ben = [e for e in files if e["expect"] == "clean"]
    print(f"\nDetection on the corpus ({len(mal)} malicious, {len(ben)} benign; "
          f"per-file results in {RESULTS}/detection.tsv):")
    hdr = f"  {'tool':20} {'TP/malicious':>13} {'FP/benign':>10} {'missed':>7} {'errors':>7} {'unscanned':>10}"
    print(hdr)
    summary = {}
    for n in names:
        tp = sum(res[(e["path"], n)][0] == "flagged" for e in mal)
        fp = sum(res[(e["path"], n)][0] == "flagged" for e in ben)
        missed = sum(res[(e["path"], n)][0] == "clean" for e in mal)
        errs = sum(res[(e["path"], n)][0] == "error" for e in files)
        uns = sum(res[(e["path"], n)][0] == "unscanned" for e in files)
        summary[n] = {"tp": tp, "malicious": len(mal), "fp": fp, "benign": len(ben),
                      "missed_clean": missed, "errors": errs, "unscanned": uns}
        print(f"  {n:20} {f'{tp}/{len(mal)}':>13} {f'{fp}/{len(ben)}':>10} {missed:>7} {errs:>7} {uns:>10}")
    print("  (missed: malicious files the tool called clean; errors and unscanned cover all files)")
    return summary


# ---- 2./3. timing and peak RSS
def peak_rss(cmd):
    """One run under /usr/bin/time -v; returns (rc, seconds, peak RSS in MiB)."""
    vfile = os.path.join(SCRATCH, "time-v.txt")
    t0 = time.perf_counter()
    rc, _, _ = run(["/usr/bin/time", "-v", "-o", vfile, "timeout", str(TIMEOUT)] + cmd, TIMEOUT + 60,
                   out=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    try:
        txt = open(vfile).read()
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt).group(1)) / 1024
        m = re.search(r"Exit status: (\d+)", txt)
        rc = int(m.group(1)) if m else rc
        if "Command terminated by signal" in txt:
            rc = "signal"
    except (OSError, AttributeError):
        rss = float("nan")
    if rc == 124:
        rc = "timeout"
    return rc, secs, rss


def timings(cmd, first_secs):
    """RUNS timed runs: hyperfine when present, else /usr/bin/time -v."""
    if RUNS <= 1:
        return [first_secs]
    if shutil.which("hyperfine"):
        js = os.path.join(SCRATCH, "hf.json")
        try:
            subprocess.run(["hyperfine", "--runs", str(RUNS), "-i", "-N", "--style", "none",
                            "--export-json", js, shlex.join(cmd)], cwd=SCRATCH,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            return json.load(open(js))["results"][0]["times"]
        except (subprocess.CalledProcessError, OSError, ValueError, KeyError):
            pass  # fall back to /usr/bin/time
    return [first_secs] + [peak_rss(cmd)[1] for _ in range(RUNS - 1)]


def bench(label, commands):
    rows = []
    for name, (cmd, ok_codes) in commands.items():
        rc, secs, rss = peak_rss(cmd)
        status = "ok" if rc in ok_codes else f"exit {rc}"
        ts = [secs] if rc in ("timeout", "signal") else timings(cmd, secs)
        mean = sum(ts) / len(ts)
        rows.append((label, name, mean, min(ts), len(ts), rss, status))
        print(f"  {label:22} {name:22} {mean:9.2f} {min(ts):9.2f} {len(ts):5} {rss:10.0f}  {status}",
              flush=True)
    return rows


def main():
    out = {"runs": RUNS, "hyperfine": bool(shutil.which("hyperfine")), "warden": W or None}
    if "detect" not in SKIP:
        print("\n== detection")
        out["detection"] = detection()
    timing_hdr = (f"  {'target':22} {'tool':22} {'mean s':>9} {'min s':>9} {'runs':>5} {'peak MiB':>10}  status"
                  f"\n  (timing: {'hyperfine' if shutil.which('hyperfine') else '/usr/bin/time'}; "
                  "peak RSS: /usr/bin/time -v, first run; status: ok when the exit code is one of the "
                  "tool's verdicts, else the exit code)")
    rows = []
    if "big" not in SKIP:
        print("\n== speed and peak memory")
        print(timing_hdr)
        data = os.path.join(WORK, "data")
        for f in ("big.pkl", "big.safetensors"):  # warm the page cache
            with open(os.path.join(data, f), "rb") as fh:
                while fh.read(1 << 24):
                    pass
        for label, path in (("500 MB pickle", "big.pkl"), ("1 GB safetensors", "big.safetensors"),
                            ("1,000 mixed files", "mixed")):
            p = os.path.join(data, path)
            cmds = {"picklescan": ([f"{BIN}/picklescan", "-p", p], (0, 1)),
                    "modelscan": ([f"{BIN}/modelscan", "-p", p, "-r", "json", "-o",
                                   os.path.join(SCRATCH, "ms.json")], (0, 1, 3))}
            if not os.path.isdir(p):  # fickling takes one file at a time
                cmds["fickling"] = ([f"{BIN}/fickling", "--check-safety", "--json-output",
                                     os.path.join(SCRATCH, "fk.json"), p], (0, 1))
            if W:
                cmds["warden scan"] = ([W, "scan", p, "--format", "json"] + WARDEN_ARGS, (0, 6))
            rows += bench(label, cmds)
    if "secrets" not in SKIP:
        site = glob.glob(os.path.join(VENV, "lib", "python3*", "site-packages"))[0]
        nfiles = sum(len(fs) for _, _, fs in os.walk(site))
        print(f"\n== secrets on {site} ({nfiles} files)")
        print(timing_hdr)
        ds = os.path.join(SCRATCH, "ds.json")
        # detect-secrets skips every path outside its working directory: cd first.
        cmds = {"detect-secrets": (["sh", "-c", 'cd "$1" && exec "$0" scan --all-files . > "$2"',
                                    f"{BIN}/detect-secrets", site, ds], (0,))}
        ws = os.path.join(SCRATCH, "ws.json")
        if W:  # the sh -c wrappers only redirect stdout to a file
            cmds["warden scan --secrets"] = (
                ["sh", "-c", 'w=$0 dir=$1 out=$2; shift 2; exec "$w" scan --secrets "$dir" --format json "$@" > "$out"',
                 W, site, ws] + WARDEN_ARGS, (0, 6))
        rows += bench("site-packages secrets", cmds)
        counts = {}
        try:
            r = json.load(open(ds))["results"]
            counts["detect-secrets"] = (sum(len(v) for v in r.values()), len(r))
        except (OSError, ValueError, KeyError):
            counts["detect-secrets"] = None
        if W:
            try:
                r = json.load(open(ws))
                fs = [f for f in r["files"] if f.get("findings")]
                counts["warden scan --secrets"] = (sum(len(f["findings"]) for f in fs), len(fs))
            except (OSError, ValueError, KeyError, TypeError):
                counts["warden scan --secrets"] = None
        for k, v in counts.items():
            print(f"  {k:22} " + (f"{v[0]} findings in {v[1]} files" if v else "no readable report"))
        out["secrets_counts"] = counts
    out["timings"] = [dict(zip(("target", "tool", "mean_s", "min_s", "runs", "peak_rss_mib", "status"), r))
                      for r in rows]
    with open(os.path.join(RESULTS, "summary.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nSummary: {RESULTS}/summary.json")
    shutil.rmtree(SCRATCH, ignore_errors=True)


main()
PY

# Planted secrets: recall and decoys (bench/scan_secrets_planted.py).
if [ -x "$W" ] && [ "${WARDEN_BENCH_SKIP:-}" != "secrets" ]; then
  echo
  echo "== planted secrets (15 provider-shaped secrets, 6 decoy files)"
  P="$WORK/planted"
  rm -rf "$P" && mkdir -p "$P"
  "$PYTHON" bench/scan_secrets_planted.py gen "$P"
  "$W" scan "$P/src" --secrets --format json > "$P/warden.json" || true
  (cd "$P/src" && "$VENV/bin/detect-secrets" scan --all-files . > "$P/ds.json") || true
  "$PYTHON" bench/scan_secrets_planted.py score "$P" "$P/warden.json" "$P/ds.json"
fi
