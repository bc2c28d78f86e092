#!/bin/sh
# Fashion-MNIST for the examples and tests: Debian's package where apt exists,
# otherwise where to download it. The examples look in data/fashion-mnist/ and
# /usr/share/datasets/fashion-mnist/ (gzip-compressed IDX files are read as they are).
set -e
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] || [ -f data/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "Fashion-MNIST is already here."
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get install -y --no-install-recommends dataset-fashion-mnist && exit 0
    echo "apt-get could not install dataset-fashion-mnist (try: $sudo apt-get update)." >&2
fi
cat >&2 <<'TXT'
Fashion-MNIST was not found and could not be installed with apt.
Download these four files from https://github.com/zalandoresearch/fashion-mnist
(section "Get the Data") into data/fashion-mnist/:
    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
(MNIST goes the same way into data/mnist/.)
TXT
exit 1
