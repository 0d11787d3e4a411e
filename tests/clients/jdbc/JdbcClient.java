// The PostgreSQL JDBC driver against a running Blueshift: prepared statements with
// parameters, result metadata, a SQLSTATE from a bad query, and transactions with
// autocommit off (rollback, commit, a named statement reused across transactions).
// Usage: java -cp postgresql.jar:. JdbcClient PORT PASSWORD
import java.sql.*;

public class JdbcClient {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/dev";
        try (Connection c = DriverManager.getConnection(url, "admin", args[1])) {
            try (Statement s = c.createStatement()) {
                s.execute("create table jdbc_t (id bigint, label varchar(16)) diststyle even");
            }
            try (PreparedStatement p = c.prepareStatement("insert into jdbc_t values (?, ?)")) {
                for (int i = 1; i <= 5; i++) {
                    p.setLong(1, i);
                    p.setString(2, "row" + i);
                    check(p.executeUpdate() == 1, "insert count");
                }
            }
            // Run the same prepared query more than prepareThreshold (5) times, so the
            // driver switches to a named server-side statement and binary results.
            try (PreparedStatement p = c.prepareStatement(
                    "select id, label from jdbc_t where id > ? order by id")) {
                for (int round = 0; round < 7; round++) {
                    p.setLong(1, 3);
                    try (ResultSet rs = p.executeQuery()) {
                        check(rs.next() && rs.getLong(1) == 4 && rs.getString(2).equals("row4"), "row 4");
                        check(rs.next() && rs.getLong(1) == 5, "row 5");
                        check(!rs.next(), "two rows");
                        check(rs.getMetaData().getColumnName(2).equals("label"), "column name");
                    }
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("select * from no_such_table");
                throw new AssertionError("missing table must fail");
            } catch (SQLException e) {
                check("42P01".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
            // Autocommit off: the driver begins a block before each transaction's first
            // statement. The prepared count runs more than prepareThreshold times, so
            // one named server-side statement serves several transactions.
            c.setAutoCommit(false);
            try (PreparedStatement insert = c.prepareStatement("insert into jdbc_t values (?, ?)");
                 PreparedStatement count = c.prepareStatement("select count(*) from jdbc_t")) {
                for (int round = 0; round < 8; round++) {
                    insert.setLong(1, 100 + round);
                    insert.setString(2, "txn" + round);
                    check(insert.executeUpdate() == 1, "insert in a transaction");
                    try (ResultSet rs = count.executeQuery()) {
                        check(rs.next() && rs.getLong(1) == 6, "round " + round + " sees its insert");
                    }
                    c.rollback();
                    try (ResultSet rs = count.executeQuery()) {
                        check(rs.next() && rs.getLong(1) == 5, "round " + round + " rolled back");
                    }
                    c.rollback();
                }
                insert.setLong(1, 200);
                insert.setString(2, "kept");
                insert.executeUpdate();
                c.commit();
            }
            c.setAutoCommit(true);
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("select count(*) from jdbc_t")) {
                check(rs.next() && rs.getLong(1) == 6, "the committed row is there");
            }
        }
        System.out.println("jdbc client ok");
    }
}
