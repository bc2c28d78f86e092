#!/bin/sh
# Builds tests/compile_check.c as C99 and as C++11 under every compile-time option, with
# warnings as errors, and runs each build. Prints "N passed, N failed". The C and the C++
# build of each option run at the same time (two cores; each takes a few seconds).
CC=${CC:-cc}
CXX=${CXX:-c++}
out=${BUILD:-build}/compile
mkdir -p "$out"
passed=0 failed=0
i=0

# build_and_run N LANG OPTS: builds and runs one; its output and status go to $out/tN.log
# and $out/tN.ok.
build_and_run() {
    if [ "$2" = c ]; then
        cmd="$CC -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Werror -O1 $3 -I. tests/compile_check.c -o $out/t$1 -lm -lpthread"
    else
        cmd="$CXX -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Wshadow -Werror -O1 $3 -I. tests/compile_check.c -o $out/t$1 -lm -lpthread"
    fi
    rm -f "$out/t$1.ok"
    if $cmd 2>"$out/t$1.log" && "$out/t$1" >>"$out/t$1.log" 2>&1; then touch "$out/t$1.ok"; fi
}

for opts in "" "-DCNNVIS_STATIC" "-DCNNVIS_NO_SIMD" "-DCNNVIS_NO_AVX2" "-DCNNVIS_FORCE_REFERENCE" \
            "-DCNNVIS_NO_THREADS" "-DTEST_CUSTOM_ALLOC" "-DCNNVIS_BREAK_ON_ERROR" "-mavx2 -mfma"; do
    case "$opts" in -mavx2*) grep -q avx2 /proc/cpuinfo 2>/dev/null || { echo "skip $opts: no AVX2 here"; continue; } ;; esac
    build_and_run $((i + 1)) c "$opts" &
    build_and_run $((i + 2)) c++ "$opts"
    wait
    for lang in c c++; do
        i=$((i + 1))
        if [ -f "$out/t$i.ok" ]; then
            passed=$((passed + 1)); echo "ok   $lang $opts: $(tail -n 1 "$out/t$i.log")"
        else
            failed=$((failed + 1)); echo "FAIL $lang $opts:"; sed 's/^/     /' "$out/t$i.log" | head -n 20
        fi
    done
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
