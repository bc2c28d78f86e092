#!/bin/sh
# CIFAR-10 (binary version) from its authors' page into data/cifar10/, checked by size and
# SHA-256 before it is unpacked. Fails with a clear message where there is no internet.
set -eu
url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
size=170052171
sha256=c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
dir=data/cifar10
archive=$dir/cifar-10-binary.tar.gz
mkdir -p "$dir"
if [ -f "$dir/data_batch_1.bin" ] && [ -f "$dir/test_batch.bin" ]; then
    echo "CIFAR-10 is already in $dir."
    exit 0
fi
fail() { echo "make cifar10: $*" >&2; rm -f "$archive.part"; exit 1; }
if [ ! -f "$archive" ]; then
    echo "downloading $url (162 MB) ..."
    if command -v curl >/dev/null 2>&1; then
        curl -fL --connect-timeout 20 -o "$archive.part" "$url" ||
            fail "could not download $url (no internet?). Download it by hand into $dir/ and run make cifar10 again."
    elif command -v wget >/dev/null 2>&1; then
        wget -T 20 -O "$archive.part" "$url" ||
            fail "could not download $url (no internet?). Download it by hand into $dir/ and run make cifar10 again."
    else
        fail "neither curl nor wget is installed. Download $url by hand into $dir/."
    fi
    mv "$archive.part" "$archive"
fi
got=$(wc -c <"$archive" | tr -d ' ')
[ "$got" = "$size" ] || { rm -f "$archive"; fail "$archive has $got bytes, expected $size: removed, try again."; }
if command -v sha256sum >/dev/null 2>&1; then
    sum=$(sha256sum "$archive" | cut -d' ' -f1)
    [ "$sum" = "$sha256" ] || { rm -f "$archive"; fail "$archive has SHA-256 $sum, expected $sha256: removed, try again."; }
fi
tar -xzf "$archive" -C "$dir" --strip-components=1 cifar-10-batches-bin/ ||
    fail "could not unpack $archive"
echo "CIFAR-10 is in $dir: data_batch_1..5.bin (training) and test_batch.bin."
