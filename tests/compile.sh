#!/bin/sh
# Builds tests/compile_check.c as C99 and as C++11 under every compile-time option, with
# warnings as errors, and runs each build. Prints "N passed, N failed".
CC=${CC:-cc}
CXX=${CXX:-c++}
out=${BUILD:-build}/compile
mkdir -p "$out"
passed=0 failed=0
i=0
for opts in "" "-DCNNVIS_STATIC" "-DCNNVIS_NO_SIMD" "-DCNNVIS_NO_AVX2" "-DCNNVIS_FORCE_REFERENCE" \
            "-DCNNVIS_NO_THREADS" "-DTEST_CUSTOM_ALLOC" "-DCNNVIS_BREAK_ON_ERROR" "-mavx2 -mfma"; do
    for lang in c c++; do
        i=$((i + 1))
        if [ "$lang" = c ]; then
            cmd="$CC -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Werror -O1 $opts -I. tests/compile_check.c -o $out/t$i -lm -lpthread"
        else
            cmd="$CXX -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Wshadow -Werror -O1 $opts -I. tests/compile_check.c -o $out/t$i -lm -lpthread"
        fi
        case "$opts" in -mavx2*) grep -q avx2 /proc/cpuinfo 2>/dev/null || { echo "skip $lang $opts: no AVX2 here"; continue; } ;; esac
        if $cmd 2>"$out/t$i.log" && "$out/t$i" >>"$out/t$i.log" 2>&1; then
            passed=$((passed + 1)); echo "ok   $lang $opts: $(tail -n 1 "$out/t$i.log")"
        else
            failed=$((failed + 1)); echo "FAIL $lang $opts:"; sed 's/^/     /' "$out/t$i.log" | head -n 20
        fi
    done
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
