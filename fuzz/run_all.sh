#!/usr/bin/env bash
# Run every fuzz harness for a short bounded time over a fresh seed corpus.
# Exit status: 0 when no harness found anything, non-zero on the first finding
# (libFuzzer prints the traceback; set FUZZ_ARTIFACTS=DIR to keep the input).
#
#   fuzz/run_all.sh            # 20 s per harness, random seed
#   SECONDS_PER_HARNESS=300 fuzz/run_all.sh
#   RUNS_PER_HARNESS=10000 FUZZ_SEED=1 fuzz/run_all.sh   # reproducible (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
PER="${SECONDS_PER_HARNESS:-20}"
# A fixed number of runs with a fixed seed gives the same inputs on every machine,
# so a CI run cannot fail by the luck of the draw; a time limit explores more.
if [ -n "${RUNS_PER_HARNESS:-}" ]; then
    BOUND=(-runs="$RUNS_PER_HARNESS" -seed="${FUZZ_SEED:-1}")
    LABEL="$RUNS_PER_HARNESS runs, seed ${FUZZ_SEED:-1}"
else
    BOUND=(-max_total_time="$PER")
    [ -n "${FUZZ_SEED:-}" ] && BOUND+=(-seed="$FUZZ_SEED")
    LABEL="${PER}s"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mongoarchive-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -c "import atheris" 2>/dev/null || {
    echo "atheris is not installed: pip install -e '.[fuzz]'" >&2
    exit 2
}
"$PYTHON" fuzz/build_corpus.py "$WORK/seed"

run() {  # harness corpus-kind
    local harness="$1" kind="$2" corpus="$WORK/corpus-$1"
    mkdir -p "$corpus"
    cp "$WORK/seed/$kind"/* "$corpus"/
    echo "== $harness ($LABEL)"
    local rc=0
    "$PYTHON" "fuzz/$harness.py" "$corpus" -dict=fuzz/archive.dict "${BOUND[@]}" \
        -timeout=10 -rss_limit_mb=1024 -max_len=65536 -artifact_prefix="$WORK/$harness-" \
        -print_final_stats=1 >"$WORK/$harness.log" 2>&1 || rc=$?
    grep -E "^(stat::number_of_executed_units|Done|==|SUMMARY|  File|[A-Za-z]*Error)" "$WORK/$harness.log" || true
    if [ "$rc" -ne 0 ] || compgen -G "$WORK/$harness-*" >/dev/null; then
        tail -n 40 "$WORK/$harness.log" >&2
        echo "FINDING in $harness (exit $rc): $(ls "$WORK/$harness"-* 2>/dev/null)" >&2
        if [ -n "${FUZZ_ARTIFACTS:-}" ]; then cp "$WORK/$harness"-* "$FUZZ_ARTIFACTS"/; fi
        return 1
    fi
}

status=0
run fuzz_read archive || status=1
run fuzz_metadata metadata || status=1
run fuzz_differential archive || status=1
run fuzz_check archive || status=1
run fuzz_salvage archive || status=1
run fuzz_roundtrip archive || status=1
run fuzz_unpack archive || status=1
run fuzz_hot_twin archive || status=1
run fuzz_extjson_twin archive || status=1
run fuzz_export archive || status=1
run fuzz_stats archive || status=1
exit "$status"
