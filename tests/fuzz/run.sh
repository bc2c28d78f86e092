#!/bin/sh
# Runs each libFuzzer harness given for SECONDS seconds (0: only replays its committed
# corpus, tests/fuzz/corpus/NAME, as a regression test). What a run finds is kept in
# build-fuzz/corpus/NAME; a crash leaves its input in build-fuzz/ and fails the run.
# Prints one line a harness: executions and the outcome, then "N passed, N failed".
SECONDS_EACH=${1:-60}; shift
passed=0 failed=0
for f in "$@"; do
    name=$(basename "$f"); name=${name#fuzz_}
    mkdir -p "build-fuzz/corpus/$name"
    if [ "$SECONDS_EACH" -gt 0 ]; then
        "$f" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
             -artifact_prefix="build-fuzz/$name-" "build-fuzz/corpus/$name" "tests/fuzz/corpus/$name" >"build-fuzz/$name.log" 2>&1
    else
        "$f" -runs=0 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "tests/fuzz/corpus/$name" >"build-fuzz/$name.log" 2>&1
    fi
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$name.log" | tail -n 1)
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1)); echo "ok   $name: ${runs:-?} executions, no finding"
    else
        failed=$((failed + 1)); echo "FAIL $name: ${runs:-?} executions, exit status $status:"
        grep -E "ERROR|runtime error|SUMMARY|Test unit written" "build-fuzz/$name.log" | head -n 10 | sed 's/^/     /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
