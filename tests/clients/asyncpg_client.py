"""asyncpg against Blueshift: a user logs in with its password (SCRAM), reads
what it was granted, a rolled-back transaction leaves nothing, and a wrong
password is refused with 28P01.

Usage: asyncpg_client.py PORT ADMIN_PASSWORD
"""

import asyncio
import sys

import asyncpg


async def main(port: int, admin_password: str) -> None:
    admin = await asyncpg.connect(
        host="127.0.0.1", port=port, user="admin", password=admin_password, database="dev"
    )
    await admin.execute(
        "create table asyncpg_t (k int); insert into asyncpg_t values (1);"
        "create user asyncpg_user password 'Asyncpg123';"
        "grant select, insert on asyncpg_t to asyncpg_user;"
    )
    user = await asyncpg.connect(
        host="127.0.0.1", port=port, user="asyncpg_user", password="Asyncpg123", database="dev"
    )
    assert await user.fetchval("select current_user") == "asyncpg_user"
    assert await user.fetchval("select count(*) from asyncpg_t") == 1
    try:
        async with user.transaction():
            await user.execute("insert into asyncpg_t values (2)")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert await user.fetchval("select count(*) from asyncpg_t") == 1
    try:
        await user.execute("delete from asyncpg_t")
        raise AssertionError("DELETE without the privilege")
    except asyncpg.exceptions.InsufficientPrivilegeError:
        pass
    try:
        await asyncpg.connect(
            host="127.0.0.1", port=port, user="asyncpg_user", password="Wrong1234", database="dev"
        )
        raise AssertionError("a wrong password logged in")
    except asyncpg.exceptions.InvalidPasswordError:
        pass
    await user.close()
    await admin.close()
    print("asyncpg ok")


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
