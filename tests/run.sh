#!/bin/sh
# Runs each test program given, prints its output, and adds up the
# "N passed, N failed, N skipped" lines. A program that crashes or prints no
# summary counts as one failure. Ends with "N passed, N failed".
# RUNNER, if set, is put before each program (e.g. qemu-aarch64).
passed=0 failed=0 skipped=0
for t in "$@"; do
    echo "== $t"
    t0=$(date +%s)
    out=$($RUNNER "$t" 2>&1); status=$?
    printf '%s\n' "$out"
    echo "   ($(( $(date +%s) - t0 )) s)"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "   $t exited with status $status and no summary: counted as 1 failure"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "   $t exited with status $status: counted as 1 failure"
        failed=$((failed + 1))
    fi
done
echo "($skipped skipped; a skipped test prints its reason above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
