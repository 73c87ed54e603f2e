#!/usr/bin/env python3
"""Side-by-side markdown table from `fastgate bench --json` files.

Usage: table.py [--rows s5cmd] OUT_DIR SERVER... (servers named fastgate* are ours, the rest are peers;
OUT_DIR/<server>/<test>.json per run, or <test>.1.json, <test>.2.json, ... for a test run several times,
of which the table shows the median; `--rows s5cmd` for crosscheck.sh's files). One ratio column per fastgate server = it / best peer: for
throughput higher is better, for latency (ms) lower is better.
"""
import glob
import json
import os
import sys

# (test file, phase name, metric key, label, higher_is_better)
ROWS = [
    ("put-64MiB", "put", "mib_per_s", "PUT 32x64MiB c=4, median of 3 (MiB/s)", True),
    ("get-64MiB", "get", "mib_per_s", "GET 8x64MiB c=4 (MiB/s)", True),
    ("put-4KiB", "put", "ops_per_s", "PUT 2000x4KiB c=32, median of 3 (ops/s)", True),
    ("put-4KiB", "put", "p99_ms", "PUT 4KiB p99, median of 3 (ms)", False),
    ("get-4KiB", "get", "ops_per_s", "GET 2000x4KiB c=32 (ops/s)", True),
    ("get-4KiB", "get", "p99_ms", "GET 4KiB p99 (ms)", False),
    ("list-2000", "list-flat", "keys_per_s", "LIST 2000 keys flat (keys/s)", True),
    ("list-2000", "list-delim", "keys_per_s", "LIST 2000 keys delimiter / (keys/s)", True),
    ("list-100000", "list-flat", "keys_per_s", "LIST 100000 keys flat (keys/s)", True),
    ("list-100000", "list-delim", "keys_per_s", "LIST 100000 keys delimiter / (keys/s)", True),
    ("reupload-1KiB", "reupload", "p50_ms", "re-upload 1KiB, Expect: 100-continue, p50 (ms)", False),
    ("reupload-1KiB", "reupload", "p99_ms", "re-upload 1KiB, Expect: 100-continue, p99 (ms)", False),
    ("reupload-big", "reupload", "p50_ms", "re-upload {big}, Expect: 100-continue, p50 (ms)", False),
    ("reupload-big", "reupload", "p99_ms", "re-upload {big}, Expect: 100-continue, p99 (ms)", False),
    ("reupload-big", "first-upload", "p50_ms", "first upload {big} (ms)", False),
    ("multipart-256MiB", "multipart-object", "mib_per_s", "multipart 256MiB, 16MiB parts c=4 (MiB/s)", True),
    ("memory", "memory", "peak_rss_mib", "server peak RSS, 64 concurrent 256MiB PUTs (MiB)", False),
]

# crosscheck.sh: one timed s5cmd command per row.
S5CMD_ROWS = [
    ("s5cmd-put-64MiB", "s5cmd", "mib_per_s", "s5cmd PUT 8x64MiB, 4 workers (MiB/s)", True),
    ("s5cmd-get-64MiB", "s5cmd", "mib_per_s", "s5cmd GET 8x64MiB, 4 workers (MiB/s)", True),
    ("s5cmd-put-4KiB", "s5cmd", "ops_per_s", "s5cmd PUT 2000x4KiB, 32 workers (ops/s)", True),
    ("s5cmd-get-4KiB", "s5cmd", "ops_per_s", "s5cmd GET 2000x4KiB, 32 workers (ops/s)", True),
    ("s5cmd-list-2000", "s5cmd", "keys_per_s", "s5cmd ls 2000 keys (keys/s)", True),
]


def read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load(out, server, test, phase=None, key=None):
    """The run of `test`; of a repeated test, the run with the median `key` in `phase`."""
    single = read(os.path.join(out, server, test + ".json"))
    if single is not None:
        return single
    runs = [d for d in map(read, sorted(glob.glob(os.path.join(out, server, test + ".*.json")))) if d]
    if not runs:
        return None
    if phase is not None:
        measured = [d for d in runs if metric(d, phase, key)[0] is not None]
        if measured:
            runs = sorted(measured, key=lambda d: metric(d, phase, key)[0])
    return runs[len(runs) // 2]


def metric(doc, phase, key):
    """(value, errors) of a phase's metric, or (None, 0)."""
    if doc is None:
        return None, 0
    for p in doc.get("phases", []):
        if p.get("name") == phase:
            v = p.get(key, p.get("extra", {}).get(key))
            return v, p.get("errors", 0)
    return None, 0


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    args = sys.argv[1:]
    rows = ROWS
    if args[:1] == ["--rows"] and len(args) > 1 and args[1] == "s5cmd":
        rows, args = S5CMD_ROWS, args[2:]
    if len(args) < 2:
        sys.exit("usage: table.py [--rows s5cmd] OUT_DIR fastgate [peer...]")
    out, servers = args[0], args[1:]
    ours = [s for s in servers if s.startswith("fastgate")] or servers[:1]
    peers = [s for s in servers if s not in ours]
    big = "large"
    head = ["test"] + servers + ([f"{s} / best peer" for s in ours] if peers else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for test, phase, key, label, higher in rows:
        docs = {s: load(out, s, test, phase, key) for s in servers}
        if all(d is None for d in docs.values()):
            continue
        if docs[servers[0]] is not None and "{big}" in label:
            big = docs[servers[0]]["params"].get("size_human", big)
        cells, vals = [], {}
        for s in servers:
            v, errors = metric(docs[s], phase, key)
            vals[s] = v if not errors else None
            cell = fmt(v)
            if errors:
                cell += f" ({errors} err)"
            if key == "p50_ms" and phase == "reupload" and docs[s] is not None:
                hits, _ = metric(docs[s], phase, "dedup_hits")
                if hits:
                    cell += f" ({hits} dedup hits)"
            cells.append(cell)
        ratios = []
        if peers:
            pv = [vals[p] for p in peers if vals[p]]
            best = (max(pv) if higher else min(pv)) if pv else None
            ratios = [f"{vals[s] / best:.2f}x" if vals[s] and best else "-" for s in ours]
        row = [label.format(big=big)] + cells + ratios
        lines.append("| " + " | ".join(row) + " |")
    ref = load(out, servers[0], "put-64MiB")
    print("\n".join(lines))
    if ref:
        print(
            f"\nOne core computes MD5+SHA-256 at {ref['hash_reference_mib_s']:.0f} MiB/s on this machine "
            f"(64MiB objects). Latency rows: lower is better; ratio < 1 favours fastgate there."
        )


if __name__ == "__main__":
    main()
