#!/usr/bin/env python3
"""Transaction benchmark: commits per second and commit latency, and result
streaming over TLS against clear text.

1. Commits: CLIENTS connections (default 16) each run `BEGIN; INSERT one row;
   COMMIT` as three statements, as fast as they can, for SECONDS seconds, against
   `blueshift up` (2 compute nodes x 2 slices) and against PostgreSQL 15 on the same
   machine (a fresh cluster, fsync and synchronous_commit on: every COMMIT is durable
   on both). Prints commits/s and the median and p99 latency of the COMMIT statement
   and of the whole transaction.
2. Streaming: a 600,000-row table (an int and a 20-character string) read with
   `SELECT *` over a clear-text connection and over TLS (the cluster's generated
   certificate), RUNS times each, alternating, by psycopg (rows fetched into Python)
   and by psql (rows written to /dev/null); prints the median rows/s of each and the
   TLS / clear ratio.

Usage: scripts/bench_commits.py [--binary target/release/blueshift] [--clients 16]
                                [--seconds 20] [--rows 600000] [--runs 5]
Needs psycopg (3) and, for the PostgreSQL figures, /usr/lib/postgresql/15/bin.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import psycopg

from bench_process import free_port

PASSWORD = "bench-password"
PG_BIN = "/usr/lib/postgresql/15/bin"


def start_blueshift(binary, data_dir):
    port = free_port()
    env = dict(os.environ, BLUESHIFT_ADMIN_PASSWORD=PASSWORD)
    proc = subprocess.Popen(
        [binary, "up", "--data-dir", data_dir, "--port", str(port),
         "--nodes", "2", "--slices-per-node", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 120
    for line in proc.stdout:
        if "ready on" in line:
            break
        if time.time() > deadline:
            raise RuntimeError("blueshift did not start")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, f"host=127.0.0.1 port={port} user=admin password={PASSWORD} dbname=dev"


def as_postgres(command):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", "sh", "-c", command]
    return ["sh", "-c", command]


def start_postgres(root):
    os.chmod(root, 0o755)
    data = os.path.join(root, "pg")
    os.makedirs(data)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(as_postgres(
        f"{PG_BIN}/initdb -D {data} -U postgres --auth=trust -E UTF8 --locale=C"),
        check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    subprocess.run(as_postgres(
        f"{PG_BIN}/pg_ctl -D {data} -w -l {data}/log -o "
        f"\"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=64\" start"),
        check=True, stdout=subprocess.DEVNULL)
    stop = lambda: subprocess.run(as_postgres(f"{PG_BIN}/pg_ctl -D {data} -m fast stop"),
                                  stdout=subprocess.DEVNULL)
    return stop, f"host=127.0.0.1 port={port} user=postgres dbname=postgres"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def commits(dsn, clients, seconds):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop table if exists bench_commits")
        conn.execute("create table bench_commits (client int, n int, at varchar(30))")
    stop_at = time.time() + seconds
    results = []
    lock = threading.Lock()

    def client(c):
        commit_ms, txn_ms = [], []
        with psycopg.connect(dsn, autocommit=True) as conn:
            n = 0
            while time.time() < stop_at:
                start = time.perf_counter()
                conn.execute("begin")
                conn.execute("insert into bench_commits values (%s, %s, 'now')", (c, n))
                before_commit = time.perf_counter()
                conn.execute("commit")
                end = time.perf_counter()
                commit_ms.append((end - before_commit) * 1000)
                txn_ms.append((end - start) * 1000)
                n += 1
        with lock:
            results.append((commit_ms, txn_ms))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    commit_ms = [v for r in results for v in r[0]]
    txn_ms = [v for r in results for v in r[1]]
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = conn.execute("select count(*) from bench_commits").fetchone()[0]
    assert stored == len(commit_ms), f"{stored} rows for {len(commit_ms)} commits"
    return {
        "commits/s": len(commit_ms) / elapsed,
        "commit p50 ms": statistics.median(commit_ms),
        "commit p99 ms": percentile(commit_ms, 0.99),
        "txn p50 ms": statistics.median(txn_ms),
        "txn p99 ms": percentile(txn_ms, 0.99),
        "commits": len(commit_ms),
    }


def streaming(dsn, rows, runs):
    with psycopg.connect(dsn + " sslmode=disable", autocommit=True) as conn:
        conn.execute("drop table if exists bench_stream")
        conn.execute(
            "create table bench_stream as select value as k, "
            "lpad(value::varchar, 20, 'x') as v from generate_series(1, %s)" % rows)
    figures = {}
    # psycopg builds a Python tuple per row; psql (libpq) writes rows to /dev/null,
    # so it is the client that shows the server's streaming rate best.
    for client in ("psycopg", "psql"):
        rates = {"disable": [], "require": []}
        for _ in range(runs):
            for mode in ("disable", "require"):
                rates[mode].append(read_all(client, dsn, mode, rows))
        clear, tls = statistics.median(rates["disable"]), statistics.median(rates["require"])
        figures[f"{client} clear rows/s"] = clear
        figures[f"{client} TLS rows/s"] = tls
        figures[f"{client} TLS / clear"] = tls / clear
    return figures


def read_all(client, dsn, mode, rows):
    """Rows/s of one `SELECT *` of bench_stream read by `client` with sslmode `mode`."""
    if client == "psql":
        start = time.perf_counter()
        out = subprocess.run(
            ["psql", "-X", "-A", "-t", dsn + f" sslmode={mode}", "-c",
             "select k, v from bench_stream", "-o", "/dev/null"],
            capture_output=True, text=True, check=True)
        assert not out.stderr, out.stderr
        return rows / (time.perf_counter() - start)
    with psycopg.connect(dsn + f" sslmode={mode}", autocommit=True) as conn:
        tls = conn.pgconn.ssl_in_use
        assert tls == (mode == "require"), f"sslmode={mode}: ssl_in_use={tls}"
        start = time.perf_counter()
        got = len(conn.execute("select k, v from bench_stream").fetchall())
        assert got == rows, got
        return got / (time.perf_counter() - start)


def show(name, figures):
    print(f"{name}: " + ", ".join(
        f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/blueshift")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        proc, dsn = start_blueshift(args.binary, os.path.join(root, "data"))
        try:
            show(f"blueshift, {args.clients} clients", commits(dsn, args.clients, args.seconds))
            show(f"blueshift, SELECT of {args.rows} rows", streaming(dsn, args.rows, args.runs))
        finally:
            proc.terminate()
            proc.wait()
        if os.path.exists(f"{PG_BIN}/initdb"):
            stop, pg = start_postgres(root)
            try:
                show(f"postgres 15, {args.clients} clients",
                     commits(pg, args.clients, args.seconds))
            finally:
                stop()


if __name__ == "__main__":
    main()
