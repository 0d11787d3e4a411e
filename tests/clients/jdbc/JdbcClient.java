// The PostgreSQL JDBC driver against a running Blueshift: prepared statements with
// parameters, result metadata, a SQLSTATE from a bad query, and transactions with
// autocommit off (rollback, commit, a named statement reused across transactions),
// and DatabaseMetaData's tables, columns, keys, foreign keys and indexes.
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
            metadata(c);
        }
        System.out.println("jdbc client ok");
    }

    /** The rows of `rs`, each as its `columns` joined by spaces. */
    static String rows(ResultSet rs, String... columns) throws SQLException {
        StringBuilder out = new StringBuilder();
        try (rs) {
            while (rs.next()) {
                for (int i = 0; i < columns.length; i++) {
                    out.append(i == 0 ? "" : " ").append(rs.getString(columns[i]));
                }
                out.append(";");
            }
        }
        return out.toString();
    }

    static void expect(String got, String want, String what) {
        check(got.equals(want), what + ": got " + got + ", want " + want);
    }

    // DatabaseMetaData: the catalog queries BI tools run through pgjdbc (tables with
    // comments, columns with declared sizes, keys, foreign keys both ways, indexes,
    // the type cache).
    static void metadata(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("create schema jdbc_meta");
            s.execute("create table jdbc_meta.parent (id int primary key, code varchar(8) unique, amount decimal(10,2))");
            s.execute("create table jdbc_meta.child (pid int references jdbc_meta.parent, code varchar(8), "
                    + "foreign key (code) references jdbc_meta.parent (code))");
            s.execute("comment on table jdbc_meta.parent is 'the parents'");
        }
        DatabaseMetaData m = c.getMetaData();
        expect(rows(m.getTables(null, "jdbc_meta", "%", new String[] {"TABLE"}),
                        "TABLE_NAME", "TABLE_TYPE", "REMARKS"),
                "child TABLE null;parent TABLE the parents;", "getTables");
        expect(rows(m.getColumns(null, "jdbc_meta", "parent", "%"),
                        "COLUMN_NAME", "TYPE_NAME", "COLUMN_SIZE", "DECIMAL_DIGITS", "IS_NULLABLE"),
                "id int4 10 0 NO;code varchar 8 0 YES;amount numeric 10 2 YES;", "getColumns");
        expect(rows(m.getPrimaryKeys(null, "jdbc_meta", "parent"), "COLUMN_NAME", "KEY_SEQ", "PK_NAME"),
                "id 1 parent_pkey;", "getPrimaryKeys");
        String keys = "parent code child code child_code_fkey parent_code_key;"
                + "parent id child pid child_pid_fkey parent_pkey;";
        String[] keyColumns = {"PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_NAME", "FKCOLUMN_NAME", "FK_NAME", "PK_NAME"};
        expect(rows(m.getImportedKeys(null, "jdbc_meta", "child"), keyColumns), keys, "getImportedKeys");
        expect(rows(m.getExportedKeys(null, "jdbc_meta", "parent"), keyColumns), keys, "getExportedKeys");
        expect(rows(m.getIndexInfo(null, "jdbc_meta", "parent", true, false),
                        "INDEX_NAME", "NON_UNIQUE", "COLUMN_NAME"),
                "parent_code_key f code;parent_pkey f id;", "getIndexInfo");
        check(rows(m.getTypeInfo(), "TYPE_NAME").contains("int4;"), "getTypeInfo lists int4");
        try (Statement s = c.createStatement()) {
            s.execute("drop schema jdbc_meta cascade");
        }
    }
}
