#!/usr/bin/env python3
"""Storage benchmark: zone-map skipping, bytes on disk, scan throughput, insert memory.

Starts `blueshift up` (the release binary by default) on a temporary directory and a
free port, loads N rows into two tables that differ only in their sort key, and
prints, over the wire (psycopg):

- a range predicate covering 1% of the table on the sort key: blocks read (from
  STL_SCAN) and time, against the same query on the table without a sort key;
- bytes on disk per row, against the size of the same rows as CSV;
- a full-table aggregate: rows per second per core;
- peak memory (VmHWM) of the Blueshift process while inserting the rows;
- with pip's duckdb installed: the same data and queries on DuckDB, as ratios.

Usage: scripts/bench_storage.py [--rows N] [--binary PATH] [--runs R]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg

from bench_process import free_port, peak_rss_mib

PASSWORD = "bench-password"


def timed(run, runs):
    """Median wall time of `runs` runs of `run()` (after one warm-up), and its result."""
    result = run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--binary", default="target/release/blueshift")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.rows
    cores = os.cpu_count() or 1
    # k is a permutation of 0..n-1 (7919 is prime and does not divide 10^k), so
    # rows arrive in no particular order, as loads usually do.
    gen = (
        f"select (value * 7919) % {n} as k, value % 1000 as v, "
        f"'item' || cast(value % 5000 as varchar) as s from generate_series(0, {n - 1})"
    )
    lo, hi = n // 2, n // 2 + n // 100 - 1
    range_q = "select count(*), sum(v) from {t} where k between %d and %d" % (lo, hi)
    scan_q = "select sum(v), count(s), max(k) from {t}"

    data = tempfile.mkdtemp(prefix="bench-storage-")
    port = free_port()
    env = dict(os.environ, BLUESHIFT_ADMIN_PASSWORD=PASSWORD, RUST_LOG="warn")
    proc = subprocess.Popen(
        [args.binary, "up", "--data-dir", data, "--port", str(port),
         "--nodes", "1", "--slices-per-node", str(cores)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        for line in proc.stdout:
            if "ready on" in line:
                break
        conn = psycopg.connect(
            host="127.0.0.1", port=port, user="admin", password=PASSWORD,
            dbname="dev", autocommit=True,
        )
        cur = conn.cursor()
        cur.execute("create table sorted (k bigint, v bigint, s varchar(16)) "
                    "diststyle even sortkey(k)")
        cur.execute("create table unsorted (k bigint, v bigint, s varchar(16)) diststyle even")
        rss_before = peak_rss_mib(proc.pid)
        start = time.perf_counter()
        cur.execute(f"insert into sorted {gen}")
        insert_s = time.perf_counter() - start
        rss_insert = peak_rss_mib(proc.pid)
        cur.execute(f"insert into unsorted {gen}")
        start = time.perf_counter()
        cur.execute("vacuum sorted")
        vacuum_s = time.perf_counter() - start

        results = {}
        for t in ("sorted", "unsorted"):
            q = range_q.format(t=t)
            seconds, rows = timed(lambda: cur.execute(q).fetchall(), args.runs)
            cur.execute("select max(query) from stl_query where querytxt = %s", (q,))
            query_id = cur.fetchone()[0]
            cur.execute(
                "select sum(blocks_read), sum(blocks_total), bool_or(is_rrscan) "
                "from stl_scan where query = %s", (query_id,))
            read, total, rr = cur.fetchone()
            results[t] = (seconds, rows, read, total, rr)
        cur.execute("select \"table\", size, tbl_rows from svv_table_info order by 1")
        sizes = {t: (size, rows) for t, size, rows in cur.fetchall()}
        scan_s, scan_rows = timed(lambda: cur.execute(scan_q.format(t="sorted")).fetchall(),
                                  args.runs)
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"rows: {n:,}; machine: {cores} cores; Blueshift: 1 node x {cores} slices")
    print(f"insert {n:,} rows: {insert_s:.1f} s ({n / insert_s:,.0f} rows/s); "
          f"peak memory (VmHWM) {rss_insert:,.0f} MiB (idle cluster {rss_before:,.0f} MiB)")
    print(f"vacuum (sort) of the sorted table: {vacuum_s:.1f} s")
    for t, (seconds, rows, read, total, rr) in results.items():
        print(f"1% range on k, table {t}: {seconds * 1000:.1f} ms, "
              f"blocks {read}/{total} ({100 * read / max(total, 1):.1f}%), "
              f"is_rrscan {rr}, result {rows}")
    speedup = results["unsorted"][0] / results["sorted"][0]
    print(f"range query speed-up from the sort key: {speedup:.1f}x")
    size_mb, stored = sizes["sorted"]
    print(f"full-table aggregate: {scan_s * 1000:.0f} ms, "
          f"{n / scan_s / cores:,.0f} rows/s per core; result {scan_rows}")

    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed (pip install duckdb): no comparison")
        return
    work = tempfile.mkdtemp(prefix="bench-duckdb-")
    db = duckdb.connect(os.path.join(work, "bench.duckdb"))
    duck_gen = (gen.replace("generate_series(0, %d)" % (n - 1), "range(%d) r(value)" % n)
                .replace("varchar", "VARCHAR"))
    db.execute(f"create table sorted as {duck_gen} order by k")
    db.execute(f"create table unsorted as {duck_gen}")
    db.execute("checkpoint")
    csv = os.path.join(work, "rows.csv")
    db.execute(f"copy sorted to '{csv}' (header false)")
    csv_bytes = os.path.getsize(csv)
    duck_bytes = os.path.getsize(os.path.join(work, "bench.duckdb"))
    duck_range, _ = timed(lambda: db.execute(range_q.format(t="sorted")).fetchall(), args.runs)
    duck_scan, _ = timed(lambda: db.execute(scan_q.format(t="sorted")).fetchall(), args.runs)
    unsorted_mb, unsorted_stored = sizes["unsorted"]
    print(f"raw CSV: {csv_bytes / n:.1f} bytes/row; Blueshift (svv_table_info size, 1 MB "
          f"blocks): sorted table {size_mb * 1024 * 1024 / stored:.1f} bytes/row, unsorted "
          f"table {unsorted_mb * 1024 * 1024 / unsorted_stored:.1f} bytes/row; "
          f"DuckDB file (both tables): {duck_bytes / (2 * n):.1f} bytes/row")
    print(f"DuckDB 1% range: {duck_range * 1000:.1f} ms "
          f"(Blueshift / DuckDB = {results['sorted'][0] / duck_range:.1f}x)")
    print(f"DuckDB full-table aggregate: {duck_scan * 1000:.0f} ms, "
          f"{n / duck_scan / cores:,.0f} rows/s per core "
          f"(Blueshift / DuckDB time = {scan_s / duck_scan:.1f}x)")


if __name__ == "__main__":
    sys.exit(main())
