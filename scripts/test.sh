#!/usr/bin/env bash
# Runs Blueshift's whole test suite on a fresh machine: installs what the tests need
# (Python clients: psycopg 2 and 3, redshift_connector, asyncpg, SQLAlchemy with
# sqlalchemy-redshift, pandas; dbt-core and
# dbt-redshift; node-postgres; the
# PostgreSQL JDBC driver and server), checks formatting and lints, builds the
# blueshift binary, and runs every test. README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test clients"
if ! python3 -c 'import psycopg, psycopg2, redshift_connector, asyncpg, sqlalchemy_redshift, pandas' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1' 'psycopg2-binary>=2.9' \
    'redshift_connector>=2.1' 'asyncpg>=0.29' 'sqlalchemy~=2.0.0' 'sqlalchemy-redshift>=1.0' 'pandas>=2'
fi
# dbt-core and dbt-redshift 1.9 (later releases fetch a parser from outside the
# package registry), in a virtualenv of their own: tests/tests/clients.rs runs dbt.
if [ ! -x target/dbt-venv/bin/dbt ]; then
  rm -rf target/dbt-venv
  python3 -m venv target/dbt-venv
  target/dbt-venv/bin/pip install --quiet --disable-pip-version-check 'dbt-core~=1.9.0' \
    'dbt-redshift~=1.9.0'
fi
# node-postgres, from the npm registry, at the versions tests/clients/node locks.
if [ ! -d tests/clients/node/node_modules/pg ]; then
  (cd tests/clients/node && npm ci --silent --no-audit --no-fund)
fi
# The JDBC driver, and the PostgreSQL 15 server the SQL tests use as an oracle.
missing=""
[ -f /usr/share/java/postgresql.jar ] || missing="$missing libpostgresql-jdbc-java"
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$missing postgresql-15"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
for tool in psql javac java node; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install it (psql: postgresql-client, java: a JDK)" >&2; exit 1; }
done

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build"
cargo build --workspace --bins --quiet

echo "== tests"
# A hung test must fail the run rather than hold CI until its own limit.
timeout --kill-after=30s 40m cargo test --workspace --no-fail-fast
