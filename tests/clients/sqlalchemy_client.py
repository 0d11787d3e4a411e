"""SQLAlchemy with sqlalchemy-redshift (the `redshift+psycopg2` dialect) and pandas
against a running Blueshift: the reflection `inspect()` does (schemas, tables,
views, columns with types, NOT NULL, defaults, encodings and comments, DISTKEY and
SORTKEY, primary,
unique and foreign keys, view definitions) and pandas' `to_sql`, `read_sql` and
`read_sql_table`.

Usage: python3 sqlalchemy_client.py PORT PASSWORD
Exits non-zero, with the failing check on stderr, when anything is wrong.
"""

import sys

import pandas as pd
import sqlalchemy as sa

port, password = int(sys.argv[1]), sys.argv[2]
engine = sa.create_engine(
    f"redshift+psycopg2://admin:{password}@127.0.0.1:{port}/dev?sslmode=disable"
)
with engine.begin() as conn:
    for sql in [
        "create schema sa",
        "create table sa.parent (id int primary key, code varchar(8) unique, "
        "amount decimal(10,2) encode zstd, made date default current_date) "
        "distkey (id) sortkey (code)",
        "create table sa.child (pid int references sa.parent, note varchar(20) not null)",
        "create view sa.big as select id, amount from sa.parent where amount > 10",
        "comment on table sa.parent is 'the parents'",
        "comment on column sa.parent.code is 'a code'",
        "insert into sa.parent values (1, 'a', 5.50, '2024-01-01'), (2, 'b', 20.00, '2024-01-02')",
    ]:
        conn.execute(sa.text(sql))

insp = sa.inspect(engine)
assert "sa" in insp.get_schema_names(), insp.get_schema_names()
assert sorted(insp.get_table_names(schema="sa")) == ["child", "parent"]
assert insp.get_view_names(schema="sa") == ["big"]
assert "from sa.parent" in insp.get_view_definition("big", schema="sa").lower()

columns = {c["name"]: c for c in insp.get_columns("parent", schema="sa")}
assert list(columns) == ["id", "code", "amount", "made"], list(columns)
assert isinstance(columns["id"]["type"], sa.INTEGER) and not columns["id"]["nullable"]
assert isinstance(columns["code"]["type"], sa.VARCHAR) and columns["code"]["type"].length == 8
assert columns["code"]["comment"] == "a code", columns["code"]
amount = columns["amount"]["type"]
assert (amount.precision, amount.scale) == (10, 2), amount
assert columns["amount"]["info"]["encode"] == "zstd", columns["amount"]
assert columns["made"]["default"] == "current_date", columns["made"]
options = insp.get_table_options("parent", schema="sa")
assert options["redshift_diststyle"] == "KEY" and options["redshift_distkey"] == "id", options
assert options["redshift_sortkey"] == ("code",), options
assert insp.get_table_comment("parent", schema="sa")["text"] == "the parents"

assert insp.get_pk_constraint("parent", schema="sa") == {
    "constrained_columns": ["id"],
    "name": "parent_pkey",
}, insp.get_pk_constraint("parent", schema="sa")
uniques = insp.get_unique_constraints("parent", schema="sa")
assert uniques == [{"name": "parent_code_key", "column_names": ["code"]}], uniques
fks = insp.get_foreign_keys("child", schema="sa")
assert len(fks) == 1 and fks[0]["referred_table"] == "parent", fks
assert fks[0]["constrained_columns"] == ["pid"] and fks[0]["referred_columns"] == ["id"], fks

frame = pd.read_sql("select id, code, amount from sa.parent order by id", engine)
assert frame["code"].tolist() == ["a", "b"], frame
pd.DataFrame({"k": [1, 2, 3], "s": ["x", "y", None]}).to_sql(
    "frame", engine, schema="sa", index=False
)
back = pd.read_sql_table("frame", engine, schema="sa").sort_values("k")
assert back["k"].tolist() == [1, 2, 3], back
assert back["s"].tolist()[:2] == ["x", "y"] and back["s"].isna().tolist()[2], back

with engine.begin() as conn:
    conn.execute(sa.text("drop schema sa cascade"))
print("sqlalchemy ok")
