#!/bin/sh
# The header's documentation against the header itself. Six checks:
# 1. Every public function (a CNNVIS_API declaration in cnnvis.h, before the implementation)
#    has a comment, as STYLE.md section 9 asks. A declaration counts as documented when
#      - it has a comment on its own lines (`...; /* t = v */`), or
#      - the line just above it ends a comment, or
#      - it belongs to a group: the declarations right above it, with no blank line or other
#        code between, lead up to a comment (`/* Builders: ... */` over several).
# 2. The manual's one-screen index ("THE API BY SECTION" in the top comment) names every
#    CNNVIS_API function once, in the row of the part whose declarations hold it, and no
#    other name.
# 3. The README's reading map gives, for each part, the lines where its declarations and
#    its implementation begin; each of those lines must be that part's banner (its >>tag).
#    Its "the top comment | 1–N" row must end at the comment's closing line.
# 4. The gdb transcript (docs/debugging.md, or wherever it is: README.md and docs/*.md are
#    read) quotes lines of cnnvis.h: each "NNNN<tab>text" line in a ```text block must be line
#    NNNN of the header, and each frame "in FUNC (...) at ./cnnvis.h:NNNN" must point inside
#    FUNC. At least one such line must exist.
# 5. No other line number of the header is quoted: outside the reading map's rows and the
#    transcript's checked lines, README.md and docs/*.md must not say "cnnvis.h:NNNN" or
#    "line NNNN" (a number that nothing checks goes stale as the header changes).
# 6. With gdb and a C compiler: from cnnvis_saliency and from FGSM's cnnvis_attack down to the
#    reference kernel of a -O0 CNNVIS_FORCE_REFERENCE build (what `make debug` builds) is at
#    most 8 functions, both ends counted (skipped, saying why, without them).
# Usage: sh tests/doc_check.sh [cnnvis.h [README.md]]; the docs/ folder beside the README is read
# too. Ends with "N passed, N failed, N skipped".
header=${1:-$(dirname "$0")/../cnnvis.h}
readme=${2:-$(dirname "$0")/../README.md}
if [ ! -f "$header" ]; then
    echo "FAIL $header not found"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
passed=0 failed=0 skipped=0
ok() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }

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
    exit bad ? 1 : 0
}' "$header"
ok $?

# 2. The index: rows "     A3       name  name ..." and their continuation lines, between
# "THE API BY SECTION" and the next blank line; the declarations' part is the last banner
# (">>tag") above them, "errors" before the first.
awk '
/^#ifdef CNNVIS_IMPLEMENTATION/ { exit }
/THE API BY SECTION/ { inindex = 1; next }
inindex && /^[ \t]*$/ { inindex = 0 }
inindex && /^   [^ ]/ { inindex = 0 }
inindex {
    rest = $0
    if (match(rest, /^     [A-Za-z0-9]+ /)) { part = substr(rest, 6, RLENGTH - 6); sub(/ +$/, "", part) }
    while (match(rest, /cnnvis_[a-z0-9_]+/)) {
        name = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
        if (name in indexed) { printf "  index: %s listed twice\n", name; bad++ }
        indexed[name] = part
    }
    next
}
/>>[a-z][0-9]_/ && /^   [A-Z0-9]/ { p = $1; if (p ~ /^[0-9]$/ || p ~ /^[AB][0-9]$/) declpart = p }
/^CNNVIS_API / {
    name = $0; sub(/[ \t]*\(.*/, "", name); sub(/.*[ *]/, "", name)
    declared[name] = declpart == "" ? "errors" : declpart
}
END {
    for (name in declared) {
        if (!(name in indexed)) { printf "  index: %s is declared (part %s) but not in the index\n", name, declared[name]; bad++ }
        else if (indexed[name] != declared[name]) {
            printf "  index: %s is in row %s, declared in part %s\n", name, indexed[name], declared[name]; bad++
        }
        n++
    }
    for (name in indexed) if (!(name in declared)) { printf "  index: %s is not a CNNVIS_API function\n", name; bad++ }
    printf "API index: %d functions declared, %d problems\n", n, bad
    exit bad ? 1 : 0
}' "$header"
ok $?

docs=$(dirname "$readme")/docs
# The pages that may quote the header: the README and every page of docs/.
pages=$readme
for page in "$docs"/*.md; do [ -f "$page" ] && pages="$pages $page"; done

if [ ! -f "$readme" ]; then
    echo "FAIL $readme not found"
    failed=$((failed + 3))
else
    # 3. The reading map's rows: | A2 layers | 214 | 2040 | ... (part, declarations, implementation),
    # and | the top comment | 1–145 | | ... (the line that closes the top comment).
    awk -v header="$header" '
    BEGIN {
        while ((getline l < header) > 0) {
            line[++n] = l
            if (!top_end && l ~ /^[ \t]*\*\/[ \t]*$/) top_end = n
        }
    }
    /^\| ([AB][0-9]|[0-9]) [^|]*\| [0-9]+ \| [0-9]+ \|/ {
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
    /^\| the top comment \| 1[^0-9|]+[0-9]+ \|/ {
        split($0, f, "|")
        at = f[3]; sub(/^ *1[^0-9]+/, "", at); at += 0
        top++
        if (at != top_end) { bad++; printf "  reading map: the top comment ends at line %d of the header, not %d\n", top_end, at }
    }
    END {
        printf "reading map: %d parts and %d top comment, %d line numbers off\n", rows, top, bad
        if (rows < 13) { print "  expected the 13 parts A1-A4, 1-5 and B1-B4"; bad++ }
        if (top != 1) { print "  expected one row \"| the top comment | 1–N |\""; bad++ }
        exit bad ? 1 : 0
    }' "$readme"
    ok $?

    # 4. The gdb transcript: source lines and frames that name cnnvis.h, in any page.
    # shellcheck disable=SC2086 # $pages is a list of paths without spaces
    awk -v header="$header" '
    BEGIN {
        while ((getline l < header) > 0) {
            line[++n] = l
            # where each function is defined: "static ... name(" or "CNNVIS__DEF ... name(" at column 0
            if (l ~ /^(static|CNNVIS__DEF|CNNVIS__TESTED)[^;=]*\(/ && l !~ /;[ \t]*$/) {
                f = l; sub(/\(.*/, "", f); sub(/.*[ *]/, "", f); defn[n] = f
            }
        }
    }
    FNR == 1 { inblock = 0 }
    /^```text/ { inblock = 1; next }
    /^```/ { inblock = 0; next }
    !inblock { next }
    /^[0-9]+\t/ {
        at = $0; sub(/\t.*/, "", at); text = $0; sub(/^[0-9]+\t/, "", text)
        checked++; where[FILENAME] = 1
        if (line[at + 0] != text) { bad++; printf "  transcript (%s): line %d of the header is not \"%s\"\n", FILENAME, at, text }
    }
    / at \.\/cnnvis\.h:[0-9]+/ && /^(#[0-9]+ |Breakpoint [0-9]+, )/ {
        s = $0; sub(/ \(.*/, "", s); sub(/.* in /, "", s); sub(/^#[0-9]+ +/, "", s); sub(/^Breakpoint [0-9]+, /, "", s)
        at = $0; sub(/.*cnnvis\.h:/, "", at); at += 0
        for (k = at; k > 0 && !(k in defn); k--) ;
        checked++; where[FILENAME] = 1
        if (k == 0 || defn[k] != s) { bad++; printf "  transcript (%s): %s at line %d, but that line is in %s\n", FILENAME, s, at, k ? defn[k] : "nothing" }
    }
    END {
        files = ""; for (f in where) files = files (files ? ", " : "") f
        printf "gdb transcript: %d lines checked, %d off%s\n", checked, bad, files ? " (" files ")" : ""
        if (checked == 0) { print "  no transcript found in the README or docs/*.md"; bad++ }
        exit bad ? 1 : 0
    }' $pages
    ok $?

    # 5. No other quoted line numbers: everything checks 3 and 4 read is skipped, and any other
    # "cnnvis.h:NNNN" or "line(s) NNNN" is reported with its page and line.
    # shellcheck disable=SC2086
    awk '
    FNR == 1 { inblock = 0 }
    /^```text/ { inblock = 1; next }
    /^```/ { inblock = 0; next }
    /^\| ([AB][0-9]|[0-9]) [^|]*\| [0-9]+ \| [0-9]+ \|/ { next }               # reading map (check 3)
    /^\| the top comment \| 1[^0-9|]+[0-9]+ \|/ { next }                        # reading map (check 3)
    inblock && /^[0-9]+\t/ { next }                                             # transcript (check 4)
    inblock && /^(#[0-9]+ |Breakpoint [0-9]+, )/ && / at \.\/cnnvis\.h:[0-9]+/ { next }
    /cnnvis\.h:[0-9]/ || /(^|[^A-Za-z])[Ll]ines? [0-9]/ {
        bad++; printf "  %s:%d quotes a line number nothing checks: %s\n", FILENAME, FNR, $0
    }
    END {
        printf "other line numbers of the header: %d quoted\n", bad
        exit bad ? 1 : 0
    }' $pages
    ok $?
fi

# 6. How deep the reference path is.
cc_=${CC:-cc}
if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIP depth: gdb is not installed (Debian: apt-get install gdb)"
    skipped=$((skipped + 1))
elif ! command -v "$cc_" >/dev/null 2>&1; then
    echo "SKIP depth: no C compiler ($cc_)"
    skipped=$((skipped + 1))
else
    tmp=$(mktemp -d)
    cat >"$tmp/depth.c" <<'EOF'
#define CNNVIS_IMPLEMENTATION
#include "cnnvis.h"
int main(void)
{
    cnnvis_net_desc d;
    cnnvis_net *net;
    cnnvis_tensor px, grad, adv;
    cnnvis_attack_desc a = {CNNVIS_ATTACK_FGSM};
    int i;
    cnnvis_net_desc_preset(&d, "alexnet_mini", 3, 32, 32, 10);
    d.n_threads = 1;
    if (cnnvis_net_create(&net, &d) != CNNVIS_OK || cnnvis_tensor_create(&px, 1, 3, 32, 32) != CNNVIS_OK) return 1;
    for (i = 0; i < 3 * 32 * 32; i++) px.data[i] = (float)(i % 7) / 7.0f;
    if (cnnvis_saliency(&grad, net, &px, 1, CNNVIS_SALIENCY_GRADIENT, NULL) != CNNVIS_OK) return 1;
    if (cnnvis_attack(&adv, NULL, NULL, net, &px, NULL, &a) != CNNVIS_OK) return 1;
    return 0;
}
EOF
    hdir=$(cd "$(dirname "$header")" && pwd)
    if "$cc_" -std=c99 -O0 -g -DCNNVIS_FORCE_REFERENCE -I"$hdir" "$tmp/depth.c" -o "$tmp/depth" -lm -lpthread 2>"$tmp/cc.log"; then
        bad=0
        for entry in cnnvis_saliency cnnvis_attack; do
            printf 'set pagination off\nbreak %s\nrun\nbreak cnnvis__conv2d_backward_data__reference\ncontinue\nbt\nkill\nquit\n' "$entry" >"$tmp/cmds"
            frames=$(gdb -q -batch -x "$tmp/cmds" "$tmp/depth" 2>/dev/null | grep -E '^#[0-9]+ ' | sed -E 's/^#[0-9]+ +(0x[0-9a-f]+ in )?//; s/ \(.*//')
            depth=$(printf '%s\n' "$frames" | awk -v e="$entry" '{ n++ } $0 == e { print n; exit }')
            path=$(printf '%s\n' "$frames" | awk -v e="$entry" '{ s = s (s ? " <- " : "") $0 } $0 == e { print s; exit }')
            if [ -z "$depth" ]; then
                echo "  depth: gdb gave no backtrace through $entry"
                bad=1
            else
                echo "  $entry to the reference kernel: $depth functions: $path"
                [ "$depth" -le 8 ] || bad=1
            fi
        done
        echo "reference depth: at most 8 functions from each entry"
        ok $bad
    else
        echo "FAIL depth: the test program does not build:"; head -n 5 "$tmp/cc.log"
        failed=$((failed + 1))
    fi
    rm -rf "$tmp"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
