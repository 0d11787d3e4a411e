#!/usr/bin/env python3
"""COPY benchmark: load TPC-H lineitem from an S3 endpoint, against DuckDB.

Generates lineitem with tpchgen-cli (`cargo install tpchgen-cli`) as gzip CSV and as
Parquet, split into one file per slice (as Redshift advises), and as one uncompressed
CSV file (which COPY splits into byte ranges), serves the files from an
in-process-style S3 endpoint (the tests crate's `s3_endpoint`: s3s-fs with SigV4 on
loopback), starts `blueshift up` (1 node x <cores> slices) and prints, for each
format and scale factor:

- COPY time over the wire (psycopg), rows/s and input MB/s (compressed bytes);
- peak memory (VmHWM) of the Blueshift process, started fresh for each load;
- with pip's duckdb installed: the same files loaded by DuckDB into a table (read
  from the local disk: DuckDB has no S3 access here), and the time ratios. DuckDB
  loads twice: into an in-memory database (kept uncompressed, lost on exit), and into
  a database file (compressed and on disk when the INSERT commits, as a COPY's
  segments are).

Usage: scripts/bench_copy.py [--sf 1 [--sf 3]] [--binary PATH] [--endpoint PATH]
                             [--tpchgen PATH] [--runs R]
"""

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import psycopg

from bench_process import free_port, peak_rss_mib

PASSWORD = "bench-password"
ACCESS_KEY = "AKIABLUESHIFTTEST"
SECRET_KEY = "blueshift-test-secret-key"

LINEITEM = """(
  l_orderkey bigint not null, l_partkey bigint not null, l_suppkey bigint not null,
  l_linenumber integer not null, l_quantity decimal(15,2) not null,
  l_extendedprice decimal(15,2) not null, l_discount decimal(15,2) not null,
  l_tax decimal(15,2) not null, l_returnflag char(1) not null, l_linestatus char(1) not null,
  l_shipdate date not null, l_commitdate date not null, l_receiptdate date not null,
  l_shipinstruct char(25) not null, l_shipmode char(10) not null, l_comment varchar(44) not null
)"""


def generate(tpchgen, sf, parts, root):
    """lineitem as gzip CSV and Parquet files under root/bucket/sf<sf>/{csv,parquet}/."""
    base = os.path.join(root, "bucket", f"sf{sf}")
    for fmt in ("csv", "parquet"):
        out = os.path.join(base, fmt)
        os.makedirs(out, exist_ok=True)
        subprocess.run(
            [tpchgen, fmt, "-s", str(sf), "--tables", "lineitem",
             "--parts", str(parts), "--output-dir", out],
            check=True, stdout=subprocess.DEVNULL,
        )
    # And lineitem as one uncompressed CSV file, which COPY splits into byte ranges.
    single = os.path.join(base, "csv1")
    os.makedirs(single, exist_ok=True)
    subprocess.run(
        [tpchgen, "csv", "-s", str(sf), "--tables", "lineitem", "--output-dir", single],
        check=True, stdout=subprocess.DEVNULL,
    )
    csv_dir = os.path.join(base, "csv")
    for dirpath, _, names in os.walk(csv_dir):
        for name in names:
            path = os.path.join(dirpath, name)
            if name.endswith(".csv"):
                with open(path, "rb") as src, gzip.open(path + ".gz", "wb", compresslevel=6) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.remove(path)
    return base


def files_of(directory, suffix):
    found = []
    for dirpath, _, names in os.walk(directory):
        found += [os.path.join(dirpath, n) for n in names if n.endswith(suffix)]
    return sorted(found)


def blueshift_load(binary, endpoint, slices, table_ddl, copy_sql):
    """A fresh cluster; runs the COPY; returns (seconds, rows, peak RSS MiB)."""
    data = tempfile.mkdtemp(prefix="bench-copy-")
    roles = os.path.join(data, "roles.json")
    with open(roles, "w") as f:
        f.write('{"default": {"access_key_id": "%s", "secret_access_key": "%s"}}'
                % (ACCESS_KEY, SECRET_KEY))
    port = free_port()
    env = dict(os.environ, BLUESHIFT_ADMIN_PASSWORD=PASSWORD, BLUESHIFT_S3_ENDPOINT=endpoint,
               BLUESHIFT_S3_ALLOW_HTTP="true", BLUESHIFT_S3_PATH_STYLE="true",
               BLUESHIFT_IAM_ROLES=roles)
    proc = subprocess.Popen(
        [binary, "up", "--data-dir", os.path.join(data, "d"), "--port", str(port),
         "--nodes", "1", "--slices-per-node", str(slices)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        for line in proc.stdout:
            if "ready on" in line:
                break
        with psycopg.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD,
                             dbname="dev", autocommit=True) as conn:
            conn.execute(table_ddl)
            start = time.perf_counter()
            cur = conn.execute(copy_sql)
            seconds = time.perf_counter() - start
            rows = cur.rowcount
            count = conn.execute("select count(*) from lineitem").fetchone()[0]
            assert count == rows, (count, rows)
        return seconds, rows, peak_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def duckdb_load(files, fmt, database=None):
    """Loads `files` into DuckDB: in memory, or into the `database` file."""
    import duckdb
    if database is not None and os.path.exists(database):
        os.remove(database)
    con = duckdb.connect(database) if database else duckdb.connect()
    con.execute("create table lineitem " + LINEITEM)
    start = time.perf_counter()
    if fmt != "parquet":
        con.execute(f"insert into lineitem select * from read_csv({files!r}, header=true)")
    else:
        con.execute(f"insert into lineitem select * from read_parquet({files!r})")
    seconds = time.perf_counter() - start
    rows = con.execute("select count(*) from lineitem").fetchone()[0]
    con.close()
    if database is not None:
        for leftover in (database, database + ".wal"):
            if os.path.exists(leftover):
                os.remove(leftover)
    return seconds, rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=int, action="append")
    parser.add_argument("--binary", default="target/release/blueshift")
    parser.add_argument("--endpoint", default="target/release/s3_endpoint")
    parser.add_argument("--tpchgen", default="tpchgen-cli")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    sfs = args.sf or [1]
    slices = os.cpu_count() or 1
    root = tempfile.mkdtemp(prefix="bench-copy-s3-")
    generated = os.path.join(root, "generated")
    try:
        import duckdb  # noqa: F401
        have_duckdb = True
    except ImportError:
        have_duckdb = False
    print(f"machine: {slices} cores; Blueshift 1 node x {slices} slices")
    print("| SF | format | files | MB in | Blueshift s | rows/s | MB/s | peak MiB "
          "| DuckDB memory s | ratio | DuckDB file s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    endpoint_proc = None
    try:
        for sf in sfs:
            base = generate(args.tpchgen, sf, slices, generated)
            # The endpoint uploads the files through the S3 API (as a user would), so
            # it keeps their ETags instead of hashing a whole file on every GET.
            served = os.path.join(root, f"served-sf{sf}")
            os.makedirs(served)
            endpoint_proc = subprocess.Popen(
                [args.endpoint, served, "--import", generated], stdout=subprocess.PIPE,
                text=True)
            endpoint = endpoint_proc.stdout.readline().split()[1]
            for fmt, folder, suffix, options in (
                ("gzip CSV", "csv", ".csv.gz", "csv gzip ignoreheader 1"),
                ("CSV, 1 file", "csv1", ".csv", "csv ignoreheader 1"),
                ("Parquet", "parquet", ".parquet", "format parquet"),
            ):
                files = files_of(os.path.join(base, folder), suffix)
                mb = sum(os.path.getsize(f) for f in files) / 1e6
                prefix = os.path.relpath(os.path.join(base, folder), os.path.join(generated, "bucket"))
                copy = f"copy lineitem from 's3://bucket/{prefix}/' iam_role default {options}"
                times = []
                for _ in range(args.runs):
                    seconds, rows, peak = blueshift_load(
                        args.binary, endpoint, slices, "create table lineitem " + LINEITEM
                        + " distkey(l_orderkey) sortkey(l_shipdate)", copy)
                    times.append(seconds)
                seconds = statistics.median(times)
                duck = " |  |  | "
                if have_duckdb:
                    cells = []
                    for database in (None, os.path.join(root, "duck.db")):
                        dtimes = []
                        for _ in range(args.runs):
                            dsec, drows = duckdb_load(files, folder, database)
                            assert drows == rows, (drows, rows)
                            dtimes.append(dsec)
                        dsec = statistics.median(dtimes)
                        cells.append(f"{dsec:.2f} | {seconds / dsec:.2f}x")
                    duck = " | ".join(cells)
                print(f"| {sf} | {fmt} | {len(files)} | {mb:.0f} | {seconds:.2f} | "
                      f"{rows / seconds / 1e6:.2f} M | {mb / seconds:.1f} | {peak:.0f} | "
                      f"{duck} |", flush=True)
            endpoint_proc.terminate()
            endpoint_proc.wait()
            shutil.rmtree(served, ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)
            endpoint_proc = None
    finally:
        if endpoint_proc is not None:
            endpoint_proc.terminate()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
