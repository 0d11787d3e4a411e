"""psycopg 3 and psycopg2 against a running Blueshift: parameterized queries,
server-side binding (psycopg 3) and client-side binding (psycopg2), errors, and
COPY FROM STDIN (psycopg 3's `copy`, psycopg2's `copy_expert`).

Usage: python3 psycopg_clients.py PORT PASSWORD
Exits non-zero, with the failing check on stderr, when anything is wrong.
"""

import io
import sys

import psycopg
import psycopg2
import psycopg2.errors

port, password = int(sys.argv[1]), sys.argv[2]
dsn = f"host=127.0.0.1 port={port} user=admin password={password} dbname=dev"

# psycopg 3: extended protocol with server-side parameters, text and binary.
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("create table py3 (id int distkey, name varchar(20)) sortkey(id)")
    with conn.cursor() as cur:
        cur.executemany("insert into py3 values (%s, %s)", [(1, "one"), (2, "two"), (3, "three")])
        cur.execute("select id, name from py3 where id >= %s order by id", (2,))
        assert cur.fetchall() == [(2, "two"), (3, "three")], "psycopg3 text results"
    with conn.cursor(binary=True) as cur:
        cur.execute("select id, name from py3 where name = %s", ("one",))
        assert cur.fetchall() == [(1, "one")], "psycopg3 binary results"
    try:
        conn.execute("select * from no_such_table")
        raise AssertionError("psycopg3: missing table must fail")
    except psycopg.errors.UndefinedTable:
        pass
    row = conn.execute("select count(*) from py3").fetchone()
    assert row == (3,), f"psycopg3 count {row}"

# psycopg 3 COPY FROM STDIN: rows written by the driver (text format), then CSV.
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("create table py3copy (id int, name varchar(20), day date)")
    with conn.cursor() as cur:
        with cur.copy("copy py3copy (id, name, day) from stdin") as copy:
            copy.write_row((1, "tab\there", "2024-01-01"))
            copy.write_row((2, None, None))
        assert cur.rowcount == 2, f"psycopg3 copy rowcount {cur.rowcount}"
        with cur.copy("copy py3copy from stdin with (format csv)") as copy:
            copy.write("3,\"x, y\",2024-03-03\n")
        rows = cur.execute("select id, name, day::varchar from py3copy order by id").fetchall()
        assert rows == [(1, "tab\there", "2024-01-01"), (2, None, None), (3, "x, y", "2024-03-03")], rows
        try:
            with cur.copy("copy py3copy from stdin") as copy:
                copy.write_row(("four", "bad", None))
            raise AssertionError("psycopg3: a bad row must fail the COPY")
        except psycopg.errors.BadCopyFileFormat:
            pass
    assert conn.execute("select count(*) from py3copy").fetchone() == (3,), "nothing loaded"

# psycopg2 copy_expert: the same sub-protocol over the simple query protocol.
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
cur.copy_expert("copy py3copy from stdin with (format csv, header)", io.StringIO("id,name,day\n4,four,2024-04-04\n"))
cur.execute("select name from py3copy where id = 4")
assert cur.fetchone() == ("four",), "psycopg2 copy_expert"
conn.close()

# psycopg2: simple protocol with client-side parameter interpolation.
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
cur.execute("select name from py3 where id = %s", (3,))
assert cur.fetchall() == [("three",)], "psycopg2 results"
cur.execute("insert into py3 values (%s, %s)", (4, "it's four"))
cur.execute("select name from py3 where id = 4")
assert cur.fetchone() == ("it's four",), "psycopg2 quoting"
try:
    cur.execute("selec 1")
    raise AssertionError("psycopg2: syntax error must fail")
except psycopg2.errors.SyntaxError:
    pass
cur.execute("select count(*) from py3")
assert cur.fetchone() == (4,), "psycopg2 count"
conn.close()
# psycopg2 with autocommit off (its default): every statement runs in a transaction
# block the driver begins; rollback() takes it all back, commit() keeps it, and an
# error aborts the block until rollback().
conn = psycopg2.connect(dsn)
other = psycopg2.connect(dsn)
other.autocommit = True
watcher = other.cursor()
cur = conn.cursor()
cur.execute("insert into py3 values (%s, %s)", (5, "five"))
cur.execute("create table py2txn (id int)")
cur.execute("insert into py2txn values (1)")
cur.execute("select count(*) from py3")
assert cur.fetchone() == (5,), "psycopg2 sees its own insert"
watcher.execute("select count(*) from py3")
assert watcher.fetchone() == (4,), "another session does not see it before commit"
conn.rollback()
cur.execute("select count(*) from py3")
assert cur.fetchone() == (4,), "psycopg2 rollback took the insert back"
watcher.execute("select count(*) from information_schema.tables where table_name = 'py2txn'")
assert watcher.fetchone() == (0,), "psycopg2 rollback took the create table back"
conn.rollback()
cur.execute("insert into py3 values (%s, %s)", (5, "five"))
try:
    cur.execute("select * from no_such_table")
    raise AssertionError("psycopg2: missing table must fail")
except psycopg2.errors.UndefinedTable:
    pass
try:
    cur.execute("select 1")
    raise AssertionError("psycopg2: a failed block refuses statements")
except psycopg2.errors.InFailedSqlTransaction:
    pass
conn.rollback()
cur.execute("insert into py3 values (%s, %s)", (6, "six"))
conn.commit()
watcher.execute("select id from py3 where id >= 5 order by id")
assert watcher.fetchall() == [(6,)], "psycopg2 commit kept only the committed row"
conn.close()
other.close()

# psycopg 3 with autocommit off: a transaction() block that raises rolls back.
with psycopg.connect(dsn) as conn:
    try:
        with conn.transaction():
            conn.execute("delete from py3 where id = %s", (6,))
            assert conn.execute("select count(*) from py3").fetchone() == (4,)
            raise KeyError("roll back")
    except KeyError:
        pass
    assert conn.execute("select count(*) from py3").fetchone() == (5,), "psycopg3 rollback"
    conn.commit()
    # A COPY FROM STDIN that fails inside a block fails the block, as in PostgreSQL.
    with conn.cursor() as cur:
        try:
            with cur.copy("copy py3copy from stdin") as copy:
                copy.write_row(("bad", "row", None))
            raise AssertionError("psycopg3: a bad row must fail the COPY")
        except psycopg.errors.BadCopyFileFormat:
            pass
        try:
            cur.execute("select 1")
            raise AssertionError("psycopg3: the failed COPY fails the block")
        except psycopg.errors.InFailedSqlTransaction:
            pass
    conn.rollback()
    assert conn.execute("select count(*) from py3copy").fetchone() == (4,), "nothing loaded"
    conn.commit()

print("psycopg clients ok")
