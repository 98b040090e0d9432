#!/usr/bin/env python3
"""Deterministic (seeded) data for the benchmark scenarios.

  gen_dataset.py tree DIR --small N --small-max BYTES --large K --large-size BYTES [--seed S]
      A tree of N small files (log-uniform sizes 512 B .. small-max, half
      text-like, half binary, about 50 per directory in a two-level tree) and
      K large files (the first text-like, the rest binary). Same seed, same
      bytes, names and mtimes.
  gen_dataset.py mutate DIR --block-frac F --block BYTES --small-files M [--seed S]
      Changes about F of the BYTES-sized blocks of every large file and a
      small region of M small files in place (sizes unchanged, mtimes moved
      forward), as a day of changes would. Prints the bytes changed.
  gen_dataset.py files DIR --total-mb N [--file-mb M] [--prefix P]
      N MB as M MB files written and closed one after another, fast.
  gen_dataset.py corpus FILE --kind text|random --size BYTES [--seed S]
      One file of text-like (compressible) or random (incompressible) data.

Text-like data is prose/log lines built from a seeded vocabulary; binary data
comes from random.Random(seed).randbytes.
"""
import argparse
import math
import os
import random
import sys

MTIME_BASE = 1_600_000_000  # fixed epoch for reproducible mtimes
CHUNK = 1 << 22


def text_pool(seed, size=1 << 21):
    """2 MiB of deterministic text-like bytes: log lines and prose."""
    r = random.Random(seed ^ 0x7E57)
    syl = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "an", "er", "is",
           "on", "ul", "pre", "tra", "com", "dis", "ing", "tion", "ment", "ver"]
    words = ["".join(r.choice(syl) for _ in range(r.randint(1, 4))) for _ in range(4000)]
    # Zipf-like word frequencies, as in real text.
    cum, acc = [], 0.0
    for i in range(len(words)):
        acc += 1.0 / (i + 1)
        cum.append(acc)
    out = []
    n = 0
    line = 0
    while n < size:
        line += 1
        if r.random() < 0.4:
            s = "2024-%02d-%02dT%02d:%02d:%02d.%03dZ host%02d app[%d]: %s %s=%d\n" % (
                r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59),
                r.randint(0, 59), r.randint(0, 999), r.randint(1, 40), r.randint(100, 99999),
                " ".join(r.choices(words, cum_weights=cum, k=r.randint(3, 10))),
                r.choice(words), r.randint(0, 1 << 20))
        else:
            s = " ".join(r.choices(words, cum_weights=cum, k=r.randint(5, 18))).capitalize() + ".\n"
        out.append(s)
        n += len(s)
    return "".join(out).encode()[:size]


class Source:
    def __init__(self, seed):
        self.seed = seed
        self._pool = None

    @property
    def pool(self):
        if self._pool is None:
            self._pool = text_pool(self.seed)
        return self._pool

    def text(self, r, n):
        """n text-like bytes: slices of the pool at seeded offsets."""
        pool = self.pool
        parts = []
        left = n
        while left > 0:
            take = min(left, r.randint(4096, 65536))
            off = r.randrange(0, len(pool) - take)
            parts.append(pool[off:off + take])
            left -= take
        return b"".join(parts)

    @staticmethod
    def binary(r, n):
        return r.randbytes(n)


def write_file(path, src, r, size, text):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            f.write(src.text(r, n) if text else src.binary(r, n))
            left -= n


def cmd_tree(a):
    src = Source(a.seed)
    r = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    total = 0
    per_dir = 50
    lo, hi = math.log(512), math.log(max(a.small_max, 1024))
    ndirs = max(1, (a.small + per_dir - 1) // per_dir)
    for i in range(a.small):
        d = os.path.join(a.dir, "small", "g%02d" % ((i // per_dir) % 20),
                         "d%04d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        size = int(math.exp(r.uniform(lo, hi)))
        text = (i % 2 == 0)
        p = os.path.join(d, "f%06d.%s" % (i, "txt" if text else "bin"))
        write_file(p, src, random.Random((a.seed << 20) + i), size, text)
        t = MTIME_BASE + i
        os.utime(p, (t, t))
        total += size
    if a.large:
        os.makedirs(os.path.join(a.dir, "large"), exist_ok=True)
    for k in range(a.large):
        text = (k == 0)
        p = os.path.join(a.dir, "large", "big%02d.%s" % (k, "log" if text else "img"))
        write_file(p, src, random.Random((a.seed << 20) + 999_000 + k), a.large_size, text)
        t = MTIME_BASE + 500_000 + k
        os.utime(p, (t, t))
        total += a.large_size
    # Directories get fixed times too, deepest first.
    for root, dirs, _ in sorted(os.walk(a.dir), key=lambda x: -x[0].count("/")):
        os.utime(root, (MTIME_BASE, MTIME_BASE))
    print("%d files (%d small in %d dirs, %d large), %d bytes" %
          (a.small + a.large, a.small, ndirs, a.large, total))


def cmd_mutate(a):
    r = random.Random(a.seed ^ 0xC4A9)
    changed = 0
    nblocks_changed = 0
    t = MTIME_BASE + 1_000_000
    large_dir = os.path.join(a.dir, "large")
    larges = sorted(os.listdir(large_dir)) if os.path.isdir(large_dir) else []
    for name in larges:
        p = os.path.join(large_dir, name)
        size = os.path.getsize(p)
        nb = max(1, size // a.block)
        k = max(1, round(nb * a.block_frac))
        with open(p, "r+b") as f:
            for b in sorted(r.sample(range(nb), k)):
                off = b * a.block
                n = min(a.block, size - off)
                # One changed region per block, as a database page update.
                f.seek(off)
                f.write(r.randbytes(n))
                changed += n
                nblocks_changed += 1
        os.utime(p, (t, t))
    smalls = []
    for root, _, files in os.walk(os.path.join(a.dir, "small")):
        for fn in files:
            smalls.append(os.path.join(root, fn))
    smalls.sort()
    for p in r.sample(smalls, min(a.small_files, len(smalls))):
        size = os.path.getsize(p)
        n = min(size, 256)
        off = r.randrange(0, size - n + 1)
        with open(p, "r+b") as f:
            f.seek(off)
            f.write(r.randbytes(n))
        os.utime(p, (t, t))
        changed += n
    print("changed %d blocks of %d bytes in %d large files and %d small files: %d bytes" %
          (nblocks_changed, a.block, len(larges), min(a.small_files, len(smalls)), changed))


def cmd_corpus(a):
    src = Source(a.seed)
    r = random.Random(a.seed + (1 if a.kind == "text" else 2))
    d = os.path.dirname(a.file)
    if d:
        os.makedirs(d, exist_ok=True)
    write_file(a.file, src, r, a.size, a.kind == "text")
    print("%s: %d bytes of %s data" % (a.file, a.size, a.kind))


def cmd_files(a):
    """total_mb MB as files of file_mb MB, written (and closed) one by one
    as fast as possible, from a seeded random pool."""
    pool = random.Random(a.seed).randbytes(64 << 20)
    os.makedirs(a.dir, exist_ok=True)
    size = a.file_mb << 20
    n = max(1, (a.total_mb << 20) // size)
    for i in range(n):
        with open(os.path.join(a.dir, "%s%05d.bin" % (a.prefix, i)), "wb") as f:
            left, off = size, (i * 1048573) % (len(pool) // 2)
            while left > 0:
                k = min(left, 4 << 20)
                f.write(pool[off:off + k])
                off = (off + k + 4096) % (len(pool) - (4 << 20))
                left -= k
    print(n * size)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tree")
    t.add_argument("dir")
    t.add_argument("--small", type=int, default=5000)
    t.add_argument("--small-max", type=int, default=256 * 1024)
    t.add_argument("--large", type=int, default=8)
    t.add_argument("--large-size", type=int, default=96 << 20)
    t.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("mutate")
    m.add_argument("dir")
    m.add_argument("--block-frac", type=float, default=0.01)
    m.add_argument("--block", type=int, default=65536)
    m.add_argument("--small-files", type=int, default=20)
    m.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("corpus")
    c.add_argument("file")
    c.add_argument("--kind", choices=["text", "random"], required=True)
    c.add_argument("--size", type=int, required=True)
    c.add_argument("--seed", type=int, default=1)
    fl = sub.add_parser("files")
    fl.add_argument("dir")
    fl.add_argument("--total-mb", type=int, required=True)
    fl.add_argument("--file-mb", type=int, default=8)
    fl.add_argument("--prefix", default="f")
    fl.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    {"tree": cmd_tree, "mutate": cmd_mutate, "corpus": cmd_corpus, "files": cmd_files}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
