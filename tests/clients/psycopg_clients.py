"""psycopg 3 and psycopg2 against a running Blueshift: parameterized queries,
server-side binding (psycopg 3) and client-side binding (psycopg2), errors.

Usage: python3 psycopg_clients.py PORT PASSWORD
Exits non-zero, with the failing check on stderr, when anything is wrong.
"""

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
print("psycopg clients ok")
