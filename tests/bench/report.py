#!/usr/bin/env python3
"""report.py --samples FILE [--table] [--scenario NAME] [--out FILE.json|FILE.csv]
            [--mode M] [--commit C] [--srcdir DIR]

Turns the raw samples the scenarios wrote (one line per run) into tables
(median of the runs, min-max, ratio Ditto/peer of the medians) and a
machine-readable results file: a JSON array with one object per measurement
(scenario, tool, metric, unit, runs, median, min, max, ...), each carrying
the commit and a machine description, or the same as CSV.

Sample file lines (tab separated):
  S scenario tool metric unit better(lower|higher) role(ditto|peer|info) value
  N scenario tool metric reason          - not available
  P scenario key value                   - a parameter of the scenario
  T scenario text                        - a note printed under the table
"""
import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys


def machine():
    mem = 0
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "mem_mib": mem,
        "kernel": platform.release(),
        "cpu": cpu,
        "hostname": platform.node(),
    }


def git_commit(srcdir):
    try:
        c = subprocess.run(["git", "-C", srcdir, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", srcdir, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load(path):
    order, groups, na, params, notes = [], {}, [], {}, {}
    scen_order = []
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.rstrip("\n").split("\t")
        if not f or not f[0]:
            continue
        kind = f[0]
        if len(f) > 1 and f[1] not in scen_order:
            scen_order.append(f[1])
        if kind == "S" and len(f) == 8:
            _, scen, tool, metric, unit, better, role, value = f
            key = (scen, tool, metric)
            if key not in groups:
                groups[key] = {"scenario": scen, "tool": tool, "metric": metric, "unit": unit,
                               "better": better, "role": role, "samples": []}
                order.append(key)
            try:
                groups[key]["samples"].append(float(value))
            except ValueError:
                pass
        elif kind == "N" and len(f) == 5:
            na.append({"scenario": f[1], "tool": f[2], "metric": f[3],
                       "status": "not available", "reason": f[4]})
        elif kind == "P" and len(f) == 4:
            params.setdefault(f[1], {})[f[2]] = f[3]
        elif kind == "T" and len(f) == 3:
            notes.setdefault(f[1], []).append(f[2])
    rows = []
    for key in order:
        g = groups[key]
        s = g["samples"]
        if not s:
            continue
        g["runs"] = len(s)
        g["median"] = statistics.median(s)
        g["min"] = min(s)
        g["max"] = max(s)
        rows.append(g)
    # Ratios: every peer against the scenario's first Ditto row for the same
    # metric; a further Ditto row (a variant) against the metric's first peer.
    for r in rows:
        same = [x for x in rows if x["scenario"] == r["scenario"] and x["metric"] == r["metric"]]
        dittos = [x for x in same if x["role"] == "ditto"]
        peers = [x for x in same if x["role"] == "peer"]
        if r["role"] == "peer" and dittos:
            d = dittos[0]
            r["compared_with"] = d["tool"]
            r["ratio"] = d["median"] / r["median"] if r["median"] else None
        elif r["role"] == "ditto" and dittos and r is not dittos[0] and peers:
            # A further Ditto row (a variant): against the first peer.
            r["compared_with"] = peers[0]["tool"]
            r["ratio"] = r["median"] / peers[0]["median"] if peers[0]["median"] else None
            r["ratio_inverted"] = True
    return rows, na, params, notes, scen_order


def fmt(v):
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e6:
        return "%d" % v
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    return "%.3f" % v


def verdict(r):
    ratio = r.get("ratio")
    if ratio is None:
        return ""
    if ratio <= 0:
        return "%.3f" % ratio
    if r.get("ratio_inverted"):
        # this (a further Ditto figure) over the peer
        s = "%.3g vs %s" % (ratio, r["compared_with"])
    else:
        s = "%.3g" % ratio
    good = ratio < 1 if r["better"] == "lower" else ratio > 1
    k = ratio if ratio >= 1 else 1 / ratio
    if abs(k - 1) < 0.005:
        return s + " (equal)"
    return "%s (Ditto %s x%.2f)" % (s, "better" if good else "worse", k)


def table(rows, na, params, notes, scen_order, only=None, out=sys.stdout):
    for scen in scen_order:
        if only and scen != only:
            continue
        rs = [r for r in rows if r["scenario"] == scen]
        ns = [n for n in na if n["scenario"] == scen]
        if not rs and not ns:
            continue
        p = params.get(scen, {})
        out.write("\n== %s%s\n" % (scen, (": " + p["title"]) if "title" in p else ""))
        for k, v in p.items():
            if k != "title":
                out.write("   %s: %s\n" % (k, v))
        hdr = ("scenario", "tool", "metric", "median", "min–max", "runs", "ratio (ditto/peer)")
        lines = []
        for r in rs:
            mm = "%s–%s" % (fmt(r["min"]), fmt(r["max"]))
            lines.append((scen, r["tool"], "%s (%s)" % (r["metric"], r["unit"]),
                          fmt(r["median"]), mm, str(r["runs"]), verdict(r)))
        for n in ns:
            lines.append((scen, n["tool"], n["metric"], "n/a", "", "",
                          "not available: " + n["reason"]))
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
        w[-1] = len(hdr[-1])
        out.write("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)).rstrip() + "\n")
        for l in lines:
            out.write("  ".join(c.ljust(w[i]) for i, c in enumerate(l)).rstrip() + "\n")
        for t in notes.get(scen, []):
            out.write("   note: %s\n" % t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--scenario")
    ap.add_argument("--out")
    ap.add_argument("--mode", default=os.environ.get("BENCH_MODE", "quick"))
    ap.add_argument("--srcdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--commit")
    ap.add_argument("--tools", default=os.environ.get("BENCH_TOOLS", ""),
                    help="tool=version;... recorded with every result")
    a = ap.parse_args()
    if not os.path.exists(a.samples):
        return 0
    rows, na, params, notes, scen_order = load(a.samples)
    if a.table:
        table(rows, na, params, notes, scen_order, a.scenario)
    if a.out:
        commit = a.commit or git_commit(a.srcdir)
        m = machine()
        tools = {}
        for kv in (a.tools or "").split(";"):
            if "=" in kv:
                k, v = kv.split("=", 1)
                tools[k.strip()] = v.strip()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        objs = []
        for r in rows:
            o = {k: r[k] for k in ("scenario", "tool", "metric", "unit", "better", "role",
                                   "runs", "median", "min", "max", "samples")}
            if "ratio" in r:
                o["ratio_ditto_over_peer"] = r["ratio"]
                o["compared_with"] = r["compared_with"]
                if r.get("ratio_inverted"):
                    o["ratio_note"] = "this Ditto figure over the peer"
            o["status"] = "ok"
            objs.append(o)
        objs.extend(dict(n) for n in na)
        for o in objs:
            o["params"] = params.get(o["scenario"], {})
            o["mode"] = a.mode
            o["commit"] = commit
            o["machine"] = m
            if tools:
                o["tools"] = tools
            o["time"] = stamp
        if a.out.endswith(".csv"):
            cols = ["scenario", "tool", "metric", "unit", "better", "role", "status", "runs",
                    "median", "min", "max", "ratio_ditto_over_peer", "compared_with",
                    "reason", "mode", "commit", "nproc", "mem_mib", "kernel", "time"]
            with open(a.out, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
                w.writeheader()
                for o in objs:
                    row = dict(o)
                    row.update({k: m[k] for k in ("nproc", "mem_mib", "kernel")})
                    w.writerow(row)
        else:
            with open(a.out, "w") as f:
                json.dump(objs, f, indent=1)
                f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
