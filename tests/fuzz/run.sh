#!/bin/sh
# Runs each libFuzzer harness given for SECONDS seconds (0: only replays its committed
# corpus, tests/fuzz/corpus/NAME, as a regression test), FUZZ_JOBS (default 1) at a time.
# What a run finds is kept in build-fuzz/corpus/NAME; a crash leaves its input in
# build-fuzz/ and fails the run. Prints one line a harness: executions and the outcome,
# then "N passed, N failed".
SECONDS_EACH=${1:-60}; shift
JOBS=${FUZZ_JOBS:-1}

# One harness; its verdict goes to build-fuzz/NAME.result, its output to build-fuzz/NAME.log.
run_one() {
    f=$1; name=$(basename "$f"); name=${name#fuzz_}
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
        if [ "$SECONDS_EACH" -gt 0 ]; then how="in $SECONDS_EACH s"; else how="(corpus replayed)"; fi
        echo "ok   $name: ${runs:-?} executions $how, no finding" >"build-fuzz/$name.result"
    else
        { echo "FAIL $name: ${runs:-?} executions, exit status $status:"
          grep -E "ERROR|runtime error|SUMMARY|Test unit written" "build-fuzz/$name.log" | head -n 10 | sed 's/^/     /'
        } >"build-fuzz/$name.result"
    fi
}

mkdir -p build-fuzz
running=0
for f in "$@"; do
    name=$(basename "$f"); rm -f "build-fuzz/${name#fuzz_}.result"
    run_one "$f" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait; running=0; fi
done
wait

passed=0 failed=0
for f in "$@"; do
    name=$(basename "$f"); name=${name#fuzz_}
    if [ -f "build-fuzz/$name.result" ] && head -n 1 "build-fuzz/$name.result" | grep -q '^ok'; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    cat "build-fuzz/$name.result" 2>/dev/null || echo "FAIL $name: no result"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
