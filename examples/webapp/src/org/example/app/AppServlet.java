package org.example.app;

import jakarta.servlet.ServletConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.InputStream;
import java.sql.SQLException;
import java.util.Properties;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.jar.Attributes;
import java.util.jar.Manifest;

/**
 * The sample application: a page and a health endpoint.
 *
 * The version comes from the WAR's own META-INF/MANIFEST.MF (Implementation-Version), the same
 * field the deploy reads to know which release it expects to answer. WEB-INF/app.properties holds
 * the fault knobs that tests use to build misbehaving releases:
 *   health.fail   - /health answers 503 (the release never passes its health gate)
 *   error.every   - every Nth page request answers 500 (0 = never)
 *   error.rate    - each page request answers 500 with this probability (0 = never)
 *   delay.ms      - each page request is slowed by this many milliseconds
 * and one per node, for tests that need a release to fail on one node only:
 *   -Dsample.health.fail.version=V   /health answers 503 when this release's version is V
 *
 * With a database (-Dsample.db.url, see Database), every page writes a visit and reads the one
 * before it, in the columns this release knows (db.columns), and /health answers 503 until the
 * schema version this release needs (schema.version: its newest expand migration) is applied.
 */
public class AppServlet extends HttpServlet {
    private String version = "unknown";
    private boolean healthFail;
    private long errorEvery;
    private double errorRate;
    private long delayMs;
    private int schemaVersion;
    private Database db;
    private final AtomicLong requests = new AtomicLong();

    @Override
    public void init(ServletConfig config) throws ServletException {
        super.init(config);
        try (InputStream in = config.getServletContext().getResourceAsStream("/META-INF/MANIFEST.MF")) {
            if (in != null) {
                String v = new Manifest(in).getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION);
                if (v != null) {
                    version = v;
                }
            }
        } catch (IOException e) {
            throw new ServletException("cannot read META-INF/MANIFEST.MF", e);
        }
        Properties knobs = new Properties();
        try (InputStream in = config.getServletContext().getResourceAsStream("/WEB-INF/app.properties")) {
            if (in != null) {
                knobs.load(in);
            }
        } catch (IOException e) {
            throw new ServletException("cannot read WEB-INF/app.properties", e);
        }
        healthFail = Boolean.parseBoolean(knobs.getProperty("health.fail", "false"))
                || version.equals(System.getProperty("sample.health.fail.version"));
        errorEvery = Long.parseLong(knobs.getProperty("error.every", "0"));
        // a node whose JVM names this version (a setting wrong on one host) fails every third page of it
        if (errorEvery == 0 && version.equals(System.getProperty("sample.error.version"))) {
            errorEvery = 3;
        }
        errorRate = Double.parseDouble(knobs.getProperty("error.rate", "0"));
        delayMs = Long.parseLong(knobs.getProperty("delay.ms", "0"));
        schemaVersion = Integer.parseInt(knobs.getProperty("schema.version", "0"));
        db = Database.fromSystemProperties(knobs.getProperty("db.columns", "node"), version);
    }

    @Override
    public void destroy() {
        if (db != null) {
            db.close();
        }
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if ("/health".equals(req.getServletPath())) {
            health(resp);
        } else {
            page(resp);
        }
    }

    private void health(HttpServletResponse resp) throws IOException {
        String problem = healthFail ? "health.fail is set" : null;
        if (problem == null && db != null) {
            try {
                if (schemaVersion > 0 && !db.hasSchema(schemaVersion)) {
                    problem = "schema version " + schemaVersion + " is not applied";
                }
            } catch (SQLException e) {
                problem = "database: " + e.getMessage();
            }
        }
        resp.setContentType("application/json");
        resp.setStatus(problem != null ? 503 : 200);
        String status = problem != null ? "DOWN" : "UP";
        resp.getWriter().write("{\"status\":\"" + status + "\",\"version\":\"" + version + "\",\"schema\":"
                + schemaVersion + (problem != null ? ",\"problem\":\"" + problem.replace("\"", "'") + "\"" : "")
                + "}\n");
    }

    private void page(HttpServletResponse resp) throws IOException {
        long n = requests.incrementAndGet();
        if (delayMs > 0) {
            try {
                Thread.sleep(delayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if ((errorEvery > 0 && n % errorEvery == 0)
                || (errorRate > 0 && ThreadLocalRandom.current().nextDouble() < errorRate)) {
            resp.sendError(500, "injected failure");
            return;
        }
        String visit = "";
        if (db != null) {
            try {
                visit = " (" + db.visit() + ")";
            } catch (SQLException e) {
                log("page: database: " + e.getMessage());
                resp.sendError(500, "database: " + e.getMessage());
                return;
            }
        }
        resp.setContentType("text/plain");
        resp.getWriter().write("Hello from version " + version + visit + "\n");
    }
}
