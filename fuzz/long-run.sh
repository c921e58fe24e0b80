#!/usr/bin/env bash
# Long fuzz runs: every target (or the ones named) for SECS seconds each
# (default 600), one after the other, at the lowest CPU priority, with one
# libFuzzer job, so a shared machine keeps building. Needs nightly Rust and
# cargo-fuzz (see README.md).
#
#   bash fuzz/long-run.sh                      # all targets, 10 minutes each
#   SECS=60 bash fuzz/long-run.sh keyfile      # one target, one minute
#   NO_BUILD=1 bash fuzz/long-run.sh           # skip `cargo fuzz build`
#
# Each target reads its committed seeds (fuzz/corpus/T) and grows its local
# corpus in fuzz/generated/T (ignored by git; kept between runs); crashes go
# to fuzz/artifacts/T. Logs are in fuzz/logs/T/, and one line per target is
# appended to fuzz/logs/summary.tsv: date, commit, target, seconds,
# executions, executions per second, corpus size (files in generated/T after
# the run), coverage (libFuzzer "cov"), crash files in artifacts/T.
set -euo pipefail
cd "$(dirname "$0")"
FUZZ=$(pwd)
SECS=${SECS:-600}
cargo_fuzz=(nice -n 19 cargo +nightly fuzz)
fuzz_opts=(--fuzz-dir "$FUZZ" --target-dir "$FUZZ/target")

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$FUZZ")
fi

if [ -z "${NO_BUILD:-}" ]; then # NO_BUILD=1: run the binaries built last
    "${cargo_fuzz[@]}" build "${fuzz_opts[@]}"
fi
host=$(rustc +nightly -vV | sed -n 's/^host: //p')

commit=$(git -C "$FUZZ" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$FUZZ" diff --quiet HEAD -- .. 2>/dev/null; then
    commit="$commit+changes"
fi
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "generated/$t" "logs/$t" "artifacts/$t"
    rm -f "logs/$t"/*.log
    status=ok
    # The binary built above, run directly (as `cargo fuzz run` would): a
    # source edit during the runs does not rebuild, so every run tests the same build.
    (
        cd "logs/$t"
        nice -n 19 "$FUZZ/target/$host/release/$t" "$FUZZ/generated/$t" "$FUZZ/corpus/$t" \
            -artifact_prefix="$FUZZ/artifacts/$t/" \
            -max_total_time="$SECS" -jobs=1 -print_final_stats=1 -max_len=100000 \
            >run.log 2>&1
    ) || status=failed
    log="logs/$t/fuzz-0.log"
    [ -f "$log" ] || log="logs/$t/run.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(find "generated/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$commit" "$t" "$SECS" \
        "${execs:-?}" "${rate:-?}" "$corpus" "${cov:-?}" "$crashes" "$status" | tee -a logs/summary.tsv
done
