#!/bin/sh
# Every public function (a CNNVIS_API declaration in cnnvis.h, before the implementation)
# has a comment, as STYLE.md section 9 asks. A declaration counts as documented when
#   - it has a comment on its own lines (`...; /* t = v */`), or
#   - the line just above it ends a comment, or
#   - it belongs to a group: the declarations right above it, with no blank line or other
#     code between, lead up to a comment (`/* Element-wise operations ... */` over six).
# Anything else (a blank line, a typedef or a #define above it) fails, and the names are
# printed with their line numbers.
# Also: the README's reading map gives, for each part, the lines where its declarations and
# its implementation begin; each of those lines must be that part's banner (its >>tag line),
# so that the map cannot drift as the header grows. Ends with "N passed, N failed, N skipped".
header=${1:-$(dirname "$0")/../cnnvis.h}
readme=${2:-$(dirname "$0")/../README.md}
if [ ! -f "$header" ]; then
    echo "FAIL $header not found"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
passed=0 failed=0
if awk '
/^#ifdef CNNVIS_IMPLEMENTATION/ { exit }
{
    line[NR] = $0
    if ($0 ~ /^CNNVIS_API /) { start[NR] = 1; indecl = 1 }
    decl[NR] = indecl
    if (indecl && $0 ~ /;/) { last[NR] = 1; indecl = 0 }
}
END {
    n = 0; bad = 0
    for (i = 1; i in line; i++) {
        if (!start[i]) continue
        n++
        name = line[i]; sub(/[ \t]*\(.*/, "", name); sub(/.*[ *]/, "", name)
        documented = 0
        for (j = i; decl[j] && !documented; j++) {           # a comment on its own lines
            if (line[j] ~ /\/\*|\/\//) documented = 1
            if (last[j]) break
        }
        for (j = i - 1; j > 0 && decl[j]; j--) ;            # up through the group above
        if (j > 0 && (line[j] ~ /\*\/[ \t]*$/ || line[j] ~ /^[ \t]*\/\//)) documented = 1
        if (!documented) { bad++; printf "  undocumented: %s (line %d)\n", name, i }
    }
    printf "%d of %d CNNVIS_API functions documented\n", n - bad, n
    if (n == 0) { print "  no CNNVIS_API declaration found"; bad = 1 }
    exit bad ? 1 : 0
}' "$header"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# The reading map's rows: | A2 layers | 214 | 2040 | ... (part, declarations, implementation).
if [ ! -f "$readme" ]; then
    echo "FAIL $readme not found"
    failed=$((failed + 1))
elif awk -v header="$header" '
BEGIN { while ((getline l < header) > 0) line[++n] = l }
/^\| (A[0-9]|[0-9]) [^|]*\| [0-9]+ \| [0-9]+ \|/ {
    split($0, f, "|")
    part = f[2]; sub(/^ /, "", part); sub(/ .*/, "", part)
    rows++
    for (k = 3; k <= 4; k++) {
        at = f[k] + 0
        if (!(at in line) || line[at] !~ ("^ *" part "  .*>>")) {
            bad++
            printf "  reading map: part %s, line %d of the header is not its banner: %s\n", part, at, line[at]
        }
    }
}
END {
    printf "reading map: %d parts, %d line numbers off\n", rows, bad
    if (rows < 9) { print "  expected the 9 parts A1-A4 and 1-5"; bad++ }
    exit bad ? 1 : 0
}' "$readme"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
