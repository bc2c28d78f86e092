#!/usr/bin/env python3
"""Recompress PNG files in place with zlib (level 9) and per-row filters.

cnnvis.h writes PNGs with stored (uncompressed) deflate blocks so that it needs no zlib;
the pictures committed for the README are recompressed with this script to keep the
repository small. Standard library only.  Usage: tools/recompress_png.py FILE.png ...
"""
import struct
import sys
import zlib


def chunks(data):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        yield kind, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered_rows(raw, width, height, bpp):
    """Each row with the filter that gives the smallest sum of absolute bytes."""
    stride = width * bpp
    prev = bytes(stride)
    out = bytearray()
    for y in range(height):
        row = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        best = None
        for kind in range(5):
            line = bytearray(stride)
            for x in range(stride):
                a = row[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
                line[x] = (row[x] - pred) & 255
            score = sum(v if v < 128 else 256 - v for v in line)
            if best is None or score < best[0]:
                best = (score, kind, line)
        out.append(best[1])
        out += best[2]
        prev = row
    return bytes(out)


def recompress(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path + ": not a PNG"
    parts = list(chunks(data))
    header = dict(parts)[b"IHDR"]
    width, height, depth, ctype = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and ctype in (0, 2) and header[12] == 0, path + ": only 8-bit grey/RGB, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
    bpp = 3 if ctype == 2 else 1
    if any(raw[y * (width * bpp + 1)] for y in range(height)):
        return  # already filtered: leave it
    body = zlib.compress(filtered_rows(raw, width, height, bpp), 9)
    out = data[:8] + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    open(path, "wb").write(out)
    print("%s: %d -> %d bytes" % (path, len(data), len(out)))


if __name__ == "__main__":
    for name in sys.argv[1:]:
        recompress(name)
