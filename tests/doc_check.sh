#!/bin/sh
# Every public function (a CNNVIS_API declaration in cnnvis.h, before the implementation)
# has a comment, as STYLE.md section 9 asks. A declaration counts as documented when
#   - it has a comment on its own lines (`...; /* t = v */`), or
#   - the line just above it ends a comment, or
#   - it belongs to a group: the declarations right above it, with no blank line or other
#     code between, lead up to a comment (`/* Element-wise operations ... */` over six).
# Anything else (a blank line, a typedef or a #define above it) fails, and the names are
# printed with their line numbers. Ends with "N passed, N failed, N skipped".
header=${1:-$(dirname "$0")/../cnnvis.h}
if [ ! -f "$header" ]; then
    echo "FAIL $header not found"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
awk '
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
    printf "%d passed, %d failed, 0 skipped\n", bad ? 0 : 1, bad ? 1 : 0
    exit bad ? 1 : 0
}' "$header"
