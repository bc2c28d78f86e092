#!/bin/sh
# cnnvis.h against PyTorch, through tools/torch2cnnvis.py and tools/cnnvis2torch.py:
#   1. torchvision's AlexNet (built here with torchvision's module names, random weights,
#      seed 8) converted from its state dict: the layers are the preset "alexnet"'s, and
#      the scores and the saliency dS_c/dpixels of one 224x224 image agree with PyTorch's
#      to 1e-4 relative (max |cnnvis - torch| / max |torch|; the figures are printed);
#   2. the same on a small nn.Sequential with the kinds AlexNet lacks (LRN, groups, padded
#      pooling, a Flatten cnnvis keeps);
#   3. round trips: cnnvis's own AlexNet checkpoint -> torch -> cnnvis, and the small
#      model's, give the same file, bit for bit;
#   4. an AdaptiveAvgPool2d that is not the identity (AlexNet at 256x256) is refused;
#   5. section 5's FGSM and PGD-20 at 8/255 on 200 held-out concept images, against the same
#      attacks written with PyTorch's autograd on the net converted back: they leave as many
#      images right (to 2 and 3 images), so the floor PGD reaches is the net's, not a weak
#      attack's. Needs a net trained on the concept images: CNNVIS_TRAINED_NET or the one
#      `make demo` saves (out/00_train/alexnet_mini.cnnvis); skipped, saying so, without one.
# The AlexNet files are 244 MB each; at most three are kept at a time, in $TMPDIR or /tmp.
# Needs python3 with PyTorch (Debian: python3-torch) and $BUILD/tests/torch_check; without
# python3 or PyTorch it prints why and counts as skipped. Ends with "N passed, N failed, N skipped".
BUILD=${BUILD:-build}
check=$BUILD/tests/torch_check
here=$(dirname "$0")

python=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
done
if [ -z "$python" ]; then
    if command -v python3 >/dev/null 2>&1; then why="PyTorch is not installed for python3 (Debian: apt-get install python3-torch)"
    else why="python3 is not installed"; fi
    echo "  SKIP: $why"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
if [ ! -x "$check" ]; then
    echo "  FAIL: $check is missing: make $check"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$dir/log" ] && sed 's/^/     /' "$dir/log" | tail -n 20; }
# Runs a torch_check program and adds its "N passed, N failed" line to ours.
count() {
    "$@" >"$dir/log" 2>&1; status=$?
    sed 's/^/  /' "$dir/log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$dir/log" | tail -n 1)
    if [ -z "$line" ]; then
        fail "$* exited with status $status and no summary"
        return
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+).*/\1/')
    passed=$((passed + p)) failed=$((failed + f))
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && fail "$* exited with status $status"
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/cnnvis-torch.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
echo "python: $python, PyTorch $("$python" -c 'import torch; print(torch.__version__)')"

# 1 and 2: agreement
for net in alexnet small; do
    if [ $net = alexnet ]; then mode=make; else mode=make-small; fi
    if cls=$("$python" "$here/torch_check.py" $mode "$dir" 2>"$dir/log" | tail -n 1) && [ -n "$cls" ]; then
        ok "$net: converted to a checkpoint, top class $cls"
        if [ $net = alexnet ]; then cmd=alexnet; else cmd=compare; fi
        count "$check" $cmd "$dir/$net.cnnvis" "$dir/${net}_pixels.f32" "$dir/${net}_logits.f32" "$dir/${net}_grad.f32" "$cls"
    else
        fail "$net: torch_check.py $mode"
    fi
done

# 4 (while alexnet.pt is here): refusing what cnnvis cannot compute
if "$python" "$here/../tools/torch2cnnvis.py" "$dir/alexnet.pt" "$dir/no.cnnvis" --input 3x256x256 >"$dir/log" 2>&1; then
    fail "AlexNet at 256x256 was converted although its AdaptiveAvgPool2d averages there"
elif grep -q 'AdaptiveAvgPool2d((6, 6)) sees a 7x7 input' "$dir/log" && [ ! -e "$dir/no.cnnvis" ]; then
    ok "AlexNet at 256x256 refused: $(head -c 90 "$dir/log")..."
else
    fail "AlexNet at 256x256: not the expected message"
fi

rm -f "$dir"/alexnet*  # 244 MB each

# 3: round trips through PyTorch
count "$check" save-alexnet "$dir/cnnvis_alexnet.cnnvis"
for net in cnnvis_alexnet small; do
    if "$python" "$here/../tools/cnnvis2torch.py" "$dir/$net.cnnvis" "$dir/${net}_back.pt" --classes "$dir/classes.txt" \
           >"$dir/log" 2>&1 &&
       back=$(tail -n 1 "$dir/log" | sed -E 's/^back: python3 [^ ]+ [^ ]+ [^ ]+ //') &&
       "$python" "$here/../tools/torch2cnnvis.py" "$dir/${net}_back.pt" "$dir/${net}_again.cnnvis" $back >>"$dir/log" 2>&1 &&
       "$python" "$here/torch_check.py" same "$dir/$net.cnnvis" "$dir/${net}_again.cnnvis" >>"$dir/log" 2>&1; then
        ok "$net: cnnvis -> torch -> cnnvis: $(tail -n 1 "$dir/log" | sed 's/^ *//')"
    else
        fail "$net: cnnvis -> torch -> cnnvis"
    fi
done
rm -f "$dir"/cnnvis_alexnet*

# 5: the attacks against PyTorch's
trained=${CNNVIS_TRAINED_NET:-out/00_train/alexnet_mini.cnnvis}
if [ -f "$trained" ]; then
    count "$check" attack "$trained" "$dir"
    [ -f "$dir/attack.txt" ] && count "$python" "$here/torch_check.py" attack "$trained" "$dir"
else
    skipped=$((skipped + 1))
    echo "  SKIP: attacks against PyTorch's: no trained concept net at $trained (run make demo, or set CNNVIS_TRAINED_NET)"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
