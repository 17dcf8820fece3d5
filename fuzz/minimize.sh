#!/usr/bin/env bash
# Rebuild fuzz/corpus/TARGET from itself plus the inputs of a campaign (FUZZ_KEEP=DIR
# tests/fuzz.sh keeps them in DIR/TARGET): the fewest inputs, at most MAX (default 80), that
# keep the most coverage edges, chosen greedily (libFuzzer's own -merge keeps hundreds).
#   bash fuzz/minimize.sh TARGET DIR [MAX]
# Run after tests/fuzz.sh built the targets.
set -euo pipefail
t=$1 extra=$2 max=${3:-80}
cd "$(dirname "$0")"
bin=target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release/$t
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/empty" "$w/pool" "$w/ctl"
# First libFuzzer's merge (drops inputs that add nothing), then each survivor's own edges.
"$bin" -merge=1 -use_counters=0 "$w/pool" "corpus/$t" "$extra" >/dev/null 2>&1
for f in "$w"/pool/*; do
    n=$(basename "$f")
    mkdir -p "$w/one/$n"
    cp "$f" "$w/one/$n/"
    "$bin" -merge=1 -use_counters=0 -merge_control_file="$w/ctl/$n" "$w/empty" "$w/one/$n" \
        >/dev/null 2>&1 || true
done
python3 - "$w" "corpus/$t" "$max" <<'PY'
import os, shutil, sys
w, out, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
edges = {}
for n in os.listdir(f"{w}/ctl"):
    for line in open(f"{w}/ctl/{n}"):
        p = line.split()
        if p and p[0] == "COV":
            edges[n] = set(map(int, p[2:]))
every = set().union(*edges.values())
left, chosen = set(every), []
while left and len(chosen) < cap:
    n = max(edges, key=lambda k: (len(edges[k] & left), -os.path.getsize(f"{w}/pool/{k}")))
    chosen.append(n)
    left -= edges[n]
shutil.rmtree(out)
os.makedirs(out)
for n in chosen:
    shutil.copy(f"{w}/pool/{n}", f"{out}/{n}")
kept = len(every) - len(left)
print(f"{out}: {len(chosen)} inputs keep {kept} of {len(every)} edges ({100 * kept / len(every):.0f}%)")
PY
