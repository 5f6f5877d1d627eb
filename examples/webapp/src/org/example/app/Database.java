package org.example.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * The sample application's table, reached with the PostgreSQL JDBC driver packed in the WAR.
 *
 *   -Dsample.db.url=jdbc:postgresql://HOST:5432/app   where the database is (none: no database)
 *   -Dsample.db.user=app
 *   -Dsample.db.passwordFile=PATH                      the password, in a file of its own
 *   -Dsample.node=NAME                                 what the node column says
 *
 * Each page inserts a visit into the columns this release knows (db.columns: node, version, or
 * both) and reads the visit before it in the same columns: a release whose columns the schema
 * no longer has fails every page, which is what the expand/contract order prevents.
 */
final class Database {
    private static final int POOL = 16;
    private final String url;
    private final Properties login = new Properties();
    private final List<String> columns = new ArrayList<>();
    private final String node;
    private final String version;
    private final BlockingQueue<Connection> idle = new ArrayBlockingQueue<>(POOL);

    private Database(String url, String user, String password, String columnList, String node, String version) {
        this.url = url;
        login.setProperty("user", user);
        login.setProperty("password", password);
        login.setProperty("connectTimeout", "5");
        login.setProperty("socketTimeout", "30");
        for (String c : columnList.split(",")) {
            c = c.trim();
            if (!c.equals("node") && !c.equals("version")) {
                throw new IllegalArgumentException("db.columns may name node and version, not '" + c + "'");
            }
            columns.add(c);
        }
        this.node = node;
        this.version = version;
    }

    static Database fromSystemProperties(String columnList, String version) {
        String url = System.getProperty("sample.db.url");
        if (url == null || url.isEmpty()) {
            return null;
        }
        try {
            // DriverManager finds drivers on the JVM's class path only, not in WEB-INF/lib
            Class.forName("org.postgresql.Driver");
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("sample.db.url is set but the WAR has no PostgreSQL JDBC driver: "
                    + "build it with build.sh --with-jdbc", e);
        }
        String password = "";
        String passwordFile = System.getProperty("sample.db.passwordFile");
        if (passwordFile != null) {
            try {
                password = Files.readString(Path.of(passwordFile), StandardCharsets.UTF_8).trim();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read sample.db.passwordFile " + passwordFile, e);
            }
        }
        return new Database(url, System.getProperty("sample.db.user", "app"), password, columnList,
                System.getProperty("sample.node", "unknown"), version);
    }

    /** Write a visit, read the one before it: "visit 42; visit 41 was node1". */
    String visit() throws SQLException {
        String names = String.join(", ", columns);
        Connection c = take();
        boolean ok = false;
        try {
            long id;
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO visits (" + names + ") VALUES ("
                    + "?, ".repeat(columns.size() - 1) + "?) RETURNING id")) {
                for (int i = 0; i < columns.size(); i++) {
                    insert.setString(i + 1, columns.get(i).equals("node") ? node : version);
                }
                try (ResultSet rs = insert.executeQuery()) {
                    rs.next();
                    id = rs.getLong(1);
                }
            }
            String before = "the first visit";
            try (PreparedStatement read = c.prepareStatement("SELECT id, " + names
                    + " FROM visits WHERE id < ? ORDER BY id DESC LIMIT 1")) {
                read.setLong(1, id);
                try (ResultSet rs = read.executeQuery()) {
                    if (rs.next()) {
                        before = "visit " + rs.getLong(1) + " was " + rs.getString(2);
                    }
                }
            }
            ok = true;
            return "visit " + id + "; " + before;
        } finally {
            give(c, ok);
        }
    }

    /** Whether schema_migrations holds the version this release needs. */
    boolean hasSchema(int version) throws SQLException {
        Connection c = take();
        boolean ok = false;
        try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM schema_migrations WHERE version = ?")) {
            q.setInt(1, version);
            try (ResultSet rs = q.executeQuery()) {
                ok = true;
                return rs.next();
            }
        } catch (SQLException e) {
            // no schema_migrations yet: nothing is applied
            if ("42P01".equals(e.getSQLState())) {
                ok = true;
                return false;
            }
            throw e;
        } finally {
            give(c, ok);
        }
    }

    private Connection take() throws SQLException {
        Connection c = idle.poll();
        return c != null ? c : DriverManager.getConnection(url, login);
    }

    /** Back to the pool after a statement that worked; closed after one that failed (it may be broken). */
    private void give(Connection c, boolean ok) {
        if (!ok || !idle.offer(c)) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // closing a broken connection: nothing more to do
            }
        }
    }

    void close() {
        Connection c;
        while ((c = idle.poll()) != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // shutting down
            }
        }
    }
}
