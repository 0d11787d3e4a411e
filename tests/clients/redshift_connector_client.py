"""Amazon's Redshift Python driver (redshift_connector, which dbt-redshift uses)
against a running Blueshift started with the default authentication: it logs in,
runs queries with parameters, commits and rolls back, and lists schemas, tables,
columns and primary keys through the driver's metadata calls.

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

# The metadata calls BI tools make through the driver (its catalog queries).
cur.execute("create table rsc_keys (id int primary key, code varchar(8) not null, note varchar(30))")
conn.commit()
schemas = [tuple(r) for r in cur.get_schemas()]
assert ("public", "dev") in schemas, schemas
assert [tuple(r) for r in cur.get_catalogs()] == [("dev",)]
tables = [(r[1], r[2], r[3]) for r in cur.get_tables(schema_pattern="public", table_name_pattern="rsc%")]
assert ("public", "rsc", "TABLE") in tables and ("public", "rsc_keys", "TABLE") in tables, tables
columns = sorted(
    (r[16], r[3], r[5], r[6], r[17])
    for r in cur.get_columns(schema_pattern="public", tablename_pattern="rsc_keys")
)
assert columns == [
    (1, "id", "int4", 10, "NO"),
    (2, "code", "varchar", 8, "NO"),
    (3, "note", "varchar", 30, "YES"),
], columns
keys = [tuple(r) for r in cur.get_primary_keys(schema="public", table="rsc_keys")]
assert keys == [("dev", "public", "rsc_keys", "id", 1, "rsc_keys_pkey")], keys
conn.close()

try:
    redshift_connector.connect(
        host="127.0.0.1", port=port, database="dev", user="admin", password="wrong", ssl=False
    )
    raise AssertionError("a wrong password must fail")
except redshift_connector.error.ProgrammingError as e:
    assert "28P01" in str(e), e
print("redshift_connector ok")
