#!/usr/bin/env python3
"""treecmp.py A B [--no-times]: exit 0 when tree B is a faithful copy of A.

Compared: the set of names, types, file contents, sizes, modes, owners,
symlink targets and file mtimes (nanoseconds). Directory mtimes are not
compared (tools set them at different moments). Prints at most 20
differences."""
import os
import stat
import sys


def entries(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = os.lstat(p)
    return out


def same_content(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 20)
            y = fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    times = "--no-times" not in sys.argv
    a, b = args
    ea, eb = entries(a), entries(b)
    diffs = []
    for k in sorted(set(ea) | set(eb)):
        if k not in eb:
            diffs.append("missing in copy: " + k)
            continue
        if k not in ea:
            diffs.append("extra in copy: " + k)
            continue
        sa, sb = ea[k], eb[k]
        if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
            diffs.append("type differs: " + k)
            continue
        what = []
        if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
            what.append("mode %o/%o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
        if (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
            what.append("owner")
        if stat.S_ISREG(sa.st_mode):
            if sa.st_size != sb.st_size:
                what.append("size %d/%d" % (sa.st_size, sb.st_size))
            elif not same_content(os.path.join(a, k), os.path.join(b, k)):
                what.append("content")
            if times and sa.st_mtime_ns != sb.st_mtime_ns:
                what.append("mtime")
        elif stat.S_ISLNK(sa.st_mode):
            if os.readlink(os.path.join(a, k)) != os.readlink(os.path.join(b, k)):
                what.append("link target")
        if what:
            diffs.append("%s: %s" % (k, ", ".join(what)))
    for d in diffs[:20]:
        print("  " + d)
    if len(diffs) > 20:
        print("  ... %d differences in all" % len(diffs))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
