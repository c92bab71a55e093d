#!/usr/bin/env bash
# Runs the README's "A short tour" as written, top to bottom.
#
# The tour is the first fenced code block after the `## A short tour`
# heading. Every command in it must exit 0, except one whose comment says
# `# exit N: why`: that one must exit N (anything else, 0 included, fails).
# The first failure stops the run and is named by its README line.
#
# The `cargo install` line is skipped: the binary is already built. The one
# that runs is $WARDEN, else $CARGO_TARGET_DIR/debug/warden (target/debug/warden
# without CARGO_TARGET_DIR), first on PATH as `warden`.
#
# The tour starts in the repository root (it copies two files shipped here: an
# ONNX test model and the bundled gate thresholds) and moves into `mktemp -d`
# at once. TMPDIR and HOME point into a fresh
# directory of this script's own, removed at the end with any process the tour
# left running; the repository must look the same afterwards. The whole run is
# bounded by WARDEN_TOUR_SECONDS (default 110).
#
# Needs what the tour itself uses (curl, sed, sha256sum) and coreutils'
# timeout and util-linux's setsid.
#
#   scripts/readme-tour.sh          # quiet; the tour's output is shown on failure
#   scripts/readme-tour.sh -v       # the tour's output as it runs
#   KEEP_TOUR=1 scripts/readme-tour.sh   # keep the directory it ran in
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
readme=$root/README.md
verbose=0
case "${1:-}" in
  -v | --verbose) verbose=1 ;;
  "") ;;
  *) echo "usage: scripts/readme-tour.sh [-v]" >&2; exit 2 ;;
esac

W=${WARDEN:-${CARGO_TARGET_DIR:-$root/target}/debug/warden}
case "$W" in /*) ;; *) W=$root/$W ;; esac
if [ ! -x "$W" ]; then
  echo "readme-tour: no warden binary at $W (cargo build -p warden-cli --locked, or set WARDEN)" >&2
  exit 1
fi
limit=${WARDEN_TOUR_SECONDS:-110}

work=$(mktemp -d "${TMPDIR:-/tmp}/warden-readme-tour.XXXXXX")
group=""
cleanup() {
  # Anything still running in the tour's process group (a server left behind).
  if [ -n "$group" ] && kill -0 -- "-$group" 2>/dev/null; then
    kill -TERM -- "-$group" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$group" 2>/dev/null || true
  fi
  [ -n "${KEEP_TOUR:-}" ] && echo "kept $work" >&2 && return
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/home" "$work/tmp"
ln -s "$W" "$work/bin/warden"

# The block, with each line's number in the README.
awk '
  /^## A short tour/ { intour = 1; next }
  intour && !inblock && /^```/ { inblock = 1; next }
  inblock && /^```/ { exit }
  inblock { printf "%d\t%s\n", NR, $0 }
' "$readme" > "$work/block"
if [ ! -s "$work/block" ]; then
  echo "readme-tour: README.md has no code block under \"## A short tour\"" >&2
  exit 1
fi

# The block as a script: each command (a line, with its continuation lines
# or here-document) is preceded by `__at LINE 'TEXT'`; one marked
# `# exit N` runs as the condition of an `if` (so neither errexit nor the
# ERR trap fires) and its status is compared with N.
awk -F '\t' '
  function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
  function flush(   m, n) {
    if (cmd == "") return
    if (first ~ /^[ \t]*cargo install /) {
      printf "__skip %d %s\n", start, q(first)
    } else if (match(last, /#[ \t]*exit[ \t]+[0-9]+:/)) {
      m = substr(last, RSTART, RLENGTH - 1); sub(/#[ \t]*exit[ \t]+/, "", m)
      printf "__at %d %s\nif %s\nthen __rc=0; else __rc=$?; fi\n__expect %d \"$__rc\"\n", start, q(first), cmd, m
      expected++
    } else {
      printf "__at %d %s\n%s\n", start, q(first), cmd
    }
    commands++
    cmd = ""; heredoc = ""
  }
  {
    line = $0; sub(/^[0-9]+\t/, "", line)
    if (heredoc != "") {
      cmd = cmd "\n" line
      t = line; sub(/^\t+/, "", t)
      if (t == heredoc) flush()
      next
    }
    if (cmd == "") {
      if (line ~ /^[ \t]*(#.*)?$/) next
      start = $1; first = line; cmd = line
    } else {
      cmd = cmd "\n" line
    }
    last = line
    if (match(line, /<<-?[ \t]*[\047"]?[A-Za-z_][A-Za-z0-9_]*/)) {
      h = substr(line, RSTART, RLENGTH); sub(/^<<-?[ \t]*[\047"]?/, "", h)
      heredoc = h
      next
    }
    if (line ~ /\\[ \t]*$/) next
    flush()
  }
  END {
    if (heredoc != "") { printf "readme-tour: README.md:%d: here-document never ends (%s)\n", start, heredoc > "/dev/stderr"; exit 1 }
    flush()
    printf "__done %d %d\n", commands, expected
  }
' "$work/block" > "$work/body"

cat > "$work/tour.sh" <<'PRELUDE'
set -euo pipefail
__line=0
__text=""
__at() { __line=$1; __text=$2; printf '%s\t%s\n' "$1" "$2" > "$TOUR_STATE"; printf '\n$ %s\n' "$2"; }
__fail() {
  printf '\nreadme-tour: README.md:%s: %s\n    %s\n' "$__line" "$1" "$__text" >&2
  exit 1
}
__expect() {
  if [ "$2" != "$1" ]; then __fail "exited $2, but the line says it exits $1"; fi
}
__skip() { printf '\nreadme-tour: README.md:%s: skipped (the binary is already built): %s\n' "$1" "$2"; }
__done() { printf '\nreadme-tour: %s command(s) ran as written, %s of them with the exit code their comment gives\n' "$1" "$2"; __finished=1; }
__finished=0
__leftover() {
  local rc=$? pids
  pids=$(jobs -pr | tr '\n' ' ')
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    if [ "$rc" -eq 0 ]; then
      printf 'readme-tour: the tour left a process running (now stopped): %s\n' "${pids% }" >&2
      exit 1
    fi
  fi
  if [ "$rc" -eq 0 ] && [ "$__finished" -ne 1 ]; then
    printf 'readme-tour: README.md:%s: the tour stopped early (an `exit` in the block?)\n' "$__line" >&2
    exit 1
  fi
}
trap '__fail "exited $?"' ERR
trap __leftover EXIT
PRELUDE
cat "$work/body" >> "$work/tour.sh"

before=$(git -C "$root" status --porcelain 2>/dev/null || true)
t0=$(date +%s)
log=$work/tour.log
run=(env -u WARDEN_WORKSPACE -u WARDEN_ACTOR -u WARDEN_CONFIG_DIR -u WARDEN_KEY_PASSPHRASE
  -u WARDEN_THREADS -u XDG_CONFIG_HOME
  PATH="$work/bin:$PATH" HOME="$work/home" TMPDIR="$work/tmp" TOUR_STATE="$work/at"
  setsid timeout --foreground -k 5 "$limit" bash "$work/tour.sh")
# setsid: the tour and whatever it starts share one process group, so
# cleanup can stop all of it and nothing else.
set +e
if [ "$verbose" -eq 1 ]; then
  "${run[@]}" < /dev/null > >(tee "$log") 2>&1 &
else
  "${run[@]}" < /dev/null > "$log" 2>&1 &
fi
group=$!
wait "$group"
rc=$?
set -e
seconds=$(( $(date +%s) - t0 ))

fail() {
  if [ "$verbose" -eq 0 ]; then
    echo "readme-tour: the tour's last output:" >&2
    tail -n 40 "$log" | sed 's/^/  | /' >&2
  fi
  echo "readme-tour: FAILED after ${seconds}s: $1" >&2
  exit 1
}
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  at=$(cat "$work/at" 2>/dev/null || true)
  fail "still running after ${limit}s, at README.md:${at%%$'\t'*}: ${at#*$'\t'}"
fi
if [ "$rc" -ne 0 ]; then
  msg=$(grep '^readme-tour: ' "$log" | tail -n 1 || true)
  msg=${msg#readme-tour: }
  fail "${msg:-the tour exited $rc}"
fi
after=$(git -C "$root" status --porcelain 2>/dev/null || true)
if [ "$before" != "$after" ]; then
  fail "the tour changed the repository (git status before and after differ)"
fi
[ "$verbose" -eq 1 ] || grep '^readme-tour: [0-9]' "$log" || true
echo "readme-tour: ok in ${seconds}s"
