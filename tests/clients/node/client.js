// node-postgres against Blueshift: a user logs in with its password (SCRAM), reads
// what it was granted, a rolled-back transaction leaves nothing, and a wrong
// password is refused with 28P01.
//
// Usage: node client.js PORT ADMIN_PASSWORD
const { Client } = require("pg");

const [port, adminPassword] = process.argv.slice(2);
const connect = async (user, password) => {
  const client = new Client({ host: "127.0.0.1", port: Number(port), user, password, database: "dev" });
  await client.connect();
  return client;
};
const expect = (what, ok) => {
  if (!ok) throw new Error(what);
};

(async () => {
  const admin = await connect("admin", adminPassword);
  await admin.query(
    "create table node_t (k int); insert into node_t values (1);" +
      "create user node_user password 'Nodepg123';" +
      "grant select, insert on node_t to node_user;",
  );
  const user = await connect("node_user", "Nodepg123");
  const me = await user.query("select current_user as u");
  expect("current_user", me.rows[0].u === "node_user");
  await user.query("begin");
  await user.query("insert into node_t values ($1)", [2]);
  await user.query("rollback");
  const count = await user.query("select count(*)::int as n from node_t");
  expect("rolled back", count.rows[0].n === 1);
  try {
    await user.query("delete from node_t");
    throw new Error("DELETE without the privilege");
  } catch (e) {
    expect(`42501, got ${e.code}`, e.code === "42501");
  }
  try {
    await connect("node_user", "Wrong1234");
    throw new Error("a wrong password logged in");
  } catch (e) {
    expect(`28P01, got ${e.code}`, e.code === "28P01");
  }
  await user.end();
  await admin.end();
  console.log("node-postgres ok");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
