#!/usr/bin/env python3
"""Random, reproducible churn of a directory tree for replication tests.

churn.py DIR COUNT SEED [RATE]: performs COUNT mixed operations under DIR
(rename chains, write-to-temp-then-rename, mkdir-then-write, rm -r,
directory/symlink swaps, appends, truncation, chmod, hard links made in
place or renamed over a name, xattrs set and removed) at most RATE ops per
second, over a small namespace so names are reused and raced often.
"""
import os, random, shutil, sys, time

root, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0
rnd = random.Random(seed)
DIRS = ["", "a", "b", "a/x", "b/y", "c"]
NAMES = ["f%d" % i for i in range(40)] + ["space name", "odd\x01\xff".encode("latin-1").decode("latin-1")]


def pick_dir():
    d = rnd.choice(DIRS)
    p = os.path.join(root, d)
    return p if os.path.isdir(p) and not os.path.islink(p) else root


def pick_file():
    return os.path.join(pick_dir(), rnd.choice(NAMES))


def remove(p):
    if os.path.islink(p) or os.path.isfile(p):
        os.unlink(p)
    elif os.path.isdir(p):
        shutil.rmtree(p)


def op():
    k = rnd.randrange(14)
    p = pick_file()
    if k <= 2:
        if os.path.isdir(p) and not os.path.islink(p):
            return
        with open(p, "wb") as f:
            f.write(os.urandom(rnd.choice([0, 10, 4096, 70000])))
    elif k == 3:
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "ab") as f:
                f.write(os.urandom(rnd.choice([1, 500, 9000])))
    elif k == 4:
        tmp = os.path.join(os.path.dirname(p), ".tmp-%d" % rnd.randrange(1000))
        with open(tmp, "wb") as f:
            f.write(os.urandom(rnd.choice([5, 3000])))
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        os.rename(tmp, p)
    elif k == 5:
        q = pick_file()
        if os.path.lexists(p) and not (os.path.isdir(q) and not os.path.islink(q)) \
                and not (os.path.isdir(p) and not os.path.islink(p)):
            os.rename(p, q)
    elif k == 6:
        remove(p)
    elif k == 7:
        d = os.path.join(root, rnd.choice(DIRS[1:]))
        if not os.path.lexists(d) and os.path.isdir(os.path.dirname(d)):
            os.mkdir(d)
            with open(os.path.join(d, rnd.choice(NAMES)), "wb") as f:
                f.write(os.urandom(100))
    elif k == 8:
        d = os.path.join(root, rnd.choice(DIRS[1:]))
        if os.path.isdir(d) and not os.path.islink(d) and rnd.random() < 0.3:
            shutil.rmtree(d)
            if rnd.random() < 0.5:
                os.symlink(rnd.choice(["f1", "/nowhere", "a/x"]), d)
        elif os.path.islink(d):
            os.unlink(d)
    elif k == 9:
        if os.path.isfile(p) and not os.path.islink(p):
            os.chmod(p, rnd.choice([0o600, 0o644, 0o755, 0o640]))
    elif k == 10:
        if os.path.isfile(p) and not os.path.islink(p):
            os.truncate(p, rnd.choice([0, 1, 5000]))
    elif k == 11:
        if not os.path.lexists(p):
            os.symlink(rnd.choice(["f2", "../f3", "/etc/hostname"]), p)
    elif k == 12:
        # A hard link: a new name, or one renamed over an existing name.
        q = pick_file()
        if os.path.isfile(p) and not os.path.islink(p) and p != q:
            if not os.path.lexists(q):
                os.link(p, q)
            elif not os.path.isdir(q) or os.path.islink(q):
                tmp = os.path.join(os.path.dirname(q), ".lnk-%d" % rnd.randrange(1000))
                os.link(p, tmp)
                os.rename(tmp, q)
    else:
        if os.path.isfile(p) and not os.path.islink(p):
            name = "user.k%d" % rnd.randrange(3)
            if rnd.random() < 0.6:
                os.setxattr(p, name, os.urandom(rnd.choice([1, 40])))
            else:
                os.removexattr(p, name)


start = time.monotonic()
for i in range(count):
    try:
        op()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError, OSError):
        pass
    if rate:
        ahead = (i + 1) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
print("churn: %d ops in %.1f s" % (count, time.monotonic() - start))
