#!/usr/bin/env python3
"""Snapshot benchmark: how long `blueshift snapshot` takes, and how fast it moves data.

Starts `blueshift up` (2 compute nodes x 2 slices) with a `file://` snapshot store in a
temporary directory, fills a table of ROWS rows (a bigint DISTKEY, a 20-character
string, a numeric(12,2)) in batches of one million, then times, each as the CLI runs it:

1. `snapshot create` of everything (every segment uploaded);
2. `snapshot create` again with nothing changed (every segment skipped);
3. `snapshot create` after inserting 1% more rows (incremental);
4. `verify --level full` of the last snapshot (every segment read and hashed);
5. `restore --nodes 1` of the last snapshot into a new data directory.

Prints seconds, MB and MB/s per step. The store is on the same disk as the cluster, so
the figures measure Blueshift's own work (reading, hashing, writing), not a network.

Usage: scripts/bench_snapshot.py [--binary target/release/blueshift] [--rows 10000000]
Needs psycopg (3).
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import psycopg

from bench_process import free_port

PASSWORD = "bench-password"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/blueshift")
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="bench-snapshot-")
    data, store, restored = (os.path.join(work, d) for d in ("data", "store", "restored"))
    os.makedirs(store)
    env = dict(
        os.environ,
        BLUESHIFT_ADMIN_PASSWORD=PASSWORD,
        BLUESHIFT_SNAPSHOT_STORE=f"file://{store}",
        BLUESHIFT_AUTOMATED_SNAPSHOT_RETENTION_DAYS="0",
    )
    port = free_port()
    proc = subprocess.Popen(
        [binary, "up", "--data-dir", data, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        for line in proc.stdout:
            if "ready on" in line:
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        conn = psycopg.connect(
            f"host=127.0.0.1 port={port} user=admin password={PASSWORD} dbname=dev",
            autocommit=True,
        )
        conn.execute(
            "create table big (id bigint, name varchar(20), amount numeric(12,2)) distkey(id)"
        )

        def fill(start, count):
            step = 1_000_000
            for lo in range(start, start + count, step):
                n = min(step, start + count - lo)
                conn.execute(
                    f"insert into big select x, 'name-' || x, x * 0.01 "
                    f"from (select unnest(range({lo}, {lo + n})) as x) g"
                )

        t = time.time()
        fill(0, args.rows)
        print(f"filled {args.rows:,} rows in {time.time() - t:.1f} s")

        def cli(*words):
            t = time.time()
            out = subprocess.run(
                [binary, "snapshot", *words], env=env, check=True,
                capture_output=True, text=True,
            ).stdout
            return time.time() - t, out

        def create(name):
            secs, out = cli("create", "--data-dir", data, "--id", name, "--output", "json")
            made = json.loads(out)
            moved = made["uploaded"]["bytes"]
            total = made["bytes"]
            print(
                f"{name:<12} {secs:6.2f} s  {made['segments']} segments, "
                f"{total / 1e6:8.1f} MB, uploaded {moved / 1e6:8.1f} MB "
                f"({moved / 1e6 / secs:7.1f} MB/s), skipped {made['skipped']['bytes'] / 1e6:.1f} MB"
            )
            return total

        create("full")
        create("unchanged")
        fill(args.rows, args.rows // 100)
        total = create("incremental")
        secs, _ = cli("verify", "--snapshot", "incremental", "--level", "full")
        print(f"{'verify full':<12} {secs:6.2f} s  {total / 1e6:8.1f} MB ({total / 1e6 / secs:7.1f} MB/s)")
        secs, _ = cli("restore", "--snapshot", "incremental", "--data-dir", restored, "--nodes", "1")
        print(f"{'restore':<12} {secs:6.2f} s  {total / 1e6:8.1f} MB ({total / 1e6 / secs:7.1f} MB/s)")
        conn.close()
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
