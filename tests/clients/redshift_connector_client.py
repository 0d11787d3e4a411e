"""Amazon's Redshift Python driver (redshift_connector, which dbt-redshift uses)
against a running Blueshift started with the default authentication: it logs in,
runs queries with parameters, and commits and rolls back.

Usage: python3 redshift_connector_client.py PORT PASSWORD
Exits non-zero, with the failing check on stderr, when anything is wrong.
"""

import sys

import redshift_connector

port, password = int(sys.argv[1]), sys.argv[2]
conn = redshift_connector.connect(
    host="127.0.0.1", port=port, database="dev", user="admin", password=password, ssl=False
)
cur = conn.cursor()
cur.execute("create table rsc (id int, name varchar(20))")
cur.execute("insert into rsc values (%s, %s)", (1, "one"))
conn.commit()
cur.execute("insert into rsc values (%s, %s)", (2, "two"))
conn.rollback()
cur.execute("select id, name from rsc order by id")
rows = [tuple(r) for r in cur.fetchall()]
assert rows == [(1, "one")], f"redshift_connector rows {rows}"
conn.close()

try:
    redshift_connector.connect(
        host="127.0.0.1", port=port, database="dev", user="admin", password="wrong", ssl=False
    )
    raise AssertionError("a wrong password must fail")
except redshift_connector.error.ProgrammingError as e:
    assert "28P01" in str(e), e
print("redshift_connector ok")
