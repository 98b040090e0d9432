#!/usr/bin/env python3
"""lagbench.py --src DIR --dst DIR --workload rewrite|append [options]

Replication lag: a writer process changes files under --src at a fixed rate
and reports, for each change, the moment close() returned and what the file
must then hold; this process watches --dst with inotify (plus a slow poll as
a safety net) and notes when the target file holds identical bytes. The lag
of a change is the time from close() returning to the target holding those
bytes (or a later version of the same file). Both clocks are
CLOCK_MONOTONIC of this host.

Workloads (the writer always closes the file after each change, as Ditto
sends a file's data when the writer closes it):
  rewrite  files of --file-kib KiB rewritten in place (open O_TRUNC, write,
           close), round-robin over --files files;
  append   --chunk-kib KiB appended (open O_APPEND, write, close) to --logs
           log files in turn, each rotated to a new name at --rotate-mib MiB.

Prints one JSON object: ops, bytes, achieved rate, lag percentiles (ms) and
how many changes never reached the target within --drain seconds after the
writer stopped (their lag is counted as the time waited: a lower bound).
"""
import argparse
import ctypes
import hashlib
import json
import os
import random
import select
import struct
import subprocess
import sys
import time

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
HDR = "DITTOLAG %012d\n"
HDR_LEN = len(HDR % 0)


def payload_pool(seed):
    return random.Random(seed).randbytes(1 << 23)


# ----------------------------------------------------------------- writer
def writer(a):
    pool = payload_pool(a.seed)
    rate = a.rate * 1e6
    t0 = time.monotonic()
    end = t0 + a.seconds
    out = sys.stdout
    i = 0
    sent = 0
    logs = [[0, 0] for _ in range(a.logs)]  # generation, size
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = t0 + sent / rate
        if due > now:
            time.sleep(due - now)
        i += 1
        poff = (i * 7919 * 4096) % (len(pool) - (4 << 20))
        if a.workload == "rewrite":
            size = a.file_kib * 1024
            name = "r%04d.dat" % (i % a.files)
            data = (HDR % i).encode() + pool[poff:poff + size - HDR_LEN]
            fd = os.open(os.path.join(a.src, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.close(fd)
            t = time.monotonic_ns()
            off = 0
        else:
            size = a.chunk_kib * 1024
            k = i % a.logs
            gen, cur = logs[k]
            if cur + size > a.rotate_mib << 20:
                gen, cur = gen + 1, 0
            name = "a%02d-%04d.log" % (k, gen)
            data = (HDR % i).encode() + pool[poff:poff + size - HDR_LEN]
            fd = os.open(os.path.join(a.src, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(fd, data)
            os.close(fd)
            t = time.monotonic_ns()
            off = cur
            logs[k] = [gen, cur + size]
        sent += size
        out.write("%d %s %d %d %s %d\n" % (i, name, off, len(data),
                                          hashlib.sha1(data).hexdigest(), t))
        out.flush()
    out.write("END %d %.6f\n" % (sent, time.monotonic() - t0))
    out.flush()


# ----------------------------------------------------------------- watcher
class Inotify:
    def __init__(self, path):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        if libc.inotify_add_watch(self.fd, path.encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)

    def names(self):
        out = set()
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            p = 0
            while p + 16 <= len(buf):
                _, _, _, ln = struct.unpack_from("iIII", buf, p)
                name = buf[p + 16:p + 16 + ln].rstrip(b"\0").decode(errors="replace")
                if name:
                    out.add(name)
                p += 16 + ln


def read_region(path, off, n):
    try:
        with open(path, "rb") as f:
            f.seek(off)
            return f.read(n)
    except OSError:
        return None


def percentile(v, q):
    if not v:
        return None
    v = sorted(v)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def watch(a):
    ino = Inotify(a.dst)
    cmd = [sys.executable, os.path.abspath(__file__), "--writer"] + sys.argv[1:]
    wr = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    rfd = wr.stdout.fileno()
    os.set_blocking(rfd, False)
    pending = {}   # name -> list of ops [seq, off, len, sha, t_close]
    lags = []      # ms
    censored = 0
    buf = b""
    done_writer = None
    deadline = None
    last_poll = 0.0
    t_start = time.monotonic_ns()
    dump = open(a.dump, "w") if a.dump else None

    def check(name):
        ops = pending.get(name)
        if not ops:
            return
        path = os.path.join(a.dst, name)
        now_ns = time.monotonic_ns()
        if a.workload == "rewrite":
            # The file holds one version: find which pending op (if any) it
            # is, by its header; that op and every older one are done.
            head = read_region(path, 0, HDR_LEN)
            if not head or not head.startswith(b"DITTOLAG "):
                return
            try:
                seq = int(head[9:21])
            except ValueError:
                return
            match = [o for o in ops if o[0] == seq]
            if not match:
                return
            o = match[0]
            data = read_region(path, 0, o[2] + 1)
            if data is None or len(data) != o[2] or hashlib.sha1(data).hexdigest() != o[3]:
                return
            done = [x for x in ops if x[0] <= seq]
            pending[name] = [x for x in ops if x[0] > seq]
        else:
            done = []
            while ops:
                o = ops[0]
                data = read_region(path, o[1], o[2])
                if data is None or len(data) != o[2] or hashlib.sha1(data).hexdigest() != o[3]:
                    break
                done.append(ops.pop(0))
        now_ns = time.monotonic_ns()
        for o in done:
            lags.append((now_ns - o[4]) / 1e6)
            if dump:
                dump.write("%d %s %.3f %.3f\n" % (o[0], name, (o[4] - t_start) / 1e6,
                                                  (now_ns - o[4]) / 1e6))
        if not pending.get(name):
            pending.pop(name, None)

    while True:
        if done_writer is not None and not pending:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        r, _, _ = select.select([ino.fd] + ([rfd] if done_writer is None else []), [], [], 0.01)
        if rfd in r:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                chunk = b""
            if not chunk and done_writer is None:
                done_writer = (0, 0.0)
                deadline = time.monotonic() + a.drain
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                f = line.decode().split()
                if f[0] == "END":
                    done_writer = (int(f[1]), float(f[2]))
                    deadline = time.monotonic() + a.drain
                    continue
                seq, name, off, ln, sha, t = int(f[0]), f[1], int(f[2]), int(f[3]), f[4], int(f[5])
                pending.setdefault(name, []).append([seq, off, ln, sha, t])
                check(name)
        if ino.fd in r:
            for name in ino.names():
                check(name)
        # Safety net for a missed event: look at every pending file now and
        # then (also catches a target that renames files into place).
        if time.monotonic() - last_poll > a.poll:
            last_poll = time.monotonic()
            for name in list(pending):
                check(name)
    wr.wait()
    end_ns = time.monotonic_ns()
    for ops in pending.values():
        for o in ops:
            censored += 1
            lags.append((end_ns - o[4]) / 1e6)
    sent, secs = done_writer if done_writer else (0, 0.0)
    n = len(lags)
    res = {
        "workload": a.workload,
        "ops": n,
        "bytes": sent,
        "seconds": secs,
        "rate_mb_s": sent / secs / 1e6 if secs else 0,
        "unreplicated": censored,
        "p50_ms": percentile(lags, 0.50),
        "p95_ms": percentile(lags, 0.95),
        "p99_ms": percentile(lags, 0.99),
        "max_ms": max(lags) if lags else None,
    }
    print(json.dumps(res))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--workload", choices=["rewrite", "append"], default="rewrite")
    ap.add_argument("--rate", type=float, default=20.0, help="MB/s written")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--drain", type=float, default=30.0)
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--files", type=int, default=256)
    ap.add_argument("--file-kib", type=int, default=128)
    ap.add_argument("--logs", type=int, default=4)
    ap.add_argument("--chunk-kib", type=int, default=64)
    ap.add_argument("--rotate-mib", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", help="write 'seq file t_close_ms lag_ms' per change here")
    ap.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.writer:
        return writer(a)
    return watch(a)


if __name__ == "__main__":
    sys.exit(main())
