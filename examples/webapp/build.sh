#!/usr/bin/env bash
# Build the sample WAR with the JDK alone (javac against Tomcat's servlet API, then jar).
#
#   examples/webapp/build.sh --version 2 --out /tmp/app-2.war
#   examples/webapp/build.sh --version 3 --health-fail --out /tmp/broken.war   # never passes its health gate
#   examples/webapp/build.sh --version 4 --error-every 5 --out /tmp/errors.war # every 5th page is a 500
#   examples/webapp/build.sh --version 5 --delay-ms 300 --out /tmp/slow.war    # each page 300 ms slower
#   examples/webapp/build.sh --version 6 --error-rate 0.01 --out /tmp/noisy.war # 1% of pages, at random, a 500
#   examples/webapp/build.sh --version 7 --with-jdbc --db-columns node,version --out /tmp/app-7.war
# --with-jdbc packs the PostgreSQL JDBC driver (libpostgresql-jdbc-java) into WEB-INF/lib, for a
# node with a database; the columns its pages write default to db/columns. The release needs
# the schema of its newest expand migration (db/migrations); --schema N says another.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
servlet_api=${SERVLET_API_JAR:-/usr/share/tomcat10/lib/servlet-api.jar}
version="" out="" health_fail=false error_every=0 error_rate=0 delay_ms=0 schema="" db_columns="" jdbc=false
jdbc_driver=${JDBC_DRIVER_JAR:-/usr/share/java/postgresql.jar}

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --health-fail) health_fail=true; shift ;;
    --error-every) error_every=$2; shift 2 ;;
    --error-rate) error_rate=$2; shift 2 ;;
    --delay-ms) delay_ms=$2; shift 2 ;;
    --schema) schema=$2; shift 2 ;;
    --db-columns) db_columns=$2; shift 2 ;;
    --with-jdbc) jdbc=true; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$version" ] && [ -n "$out" ] || usage
[[ "$version" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "build.sh: --version may hold letters, digits, . _ - only" >&2; exit 2; }
[ -r "$servlet_api" ] || { echo "build.sh: $servlet_api not found; install tomcat10 or set SERVLET_API_JAR" >&2; exit 2; }

if [ -z "$schema" ]; then
  # the newest expand migration: the schema this release's code is written against
  schema=0
  for f in "$here"/db/migrations/*.expand.sql; do
    [ -e "$f" ] || continue
    n=$(basename "$f"); n=$((10#${n%%-*}))
    [ "$n" -gt "$schema" ] && schema=$n
  done
fi
if [ -z "$db_columns" ]; then
  db_columns=$(cat "$here/db/columns" 2>/dev/null || echo node)
fi
[[ "$schema" =~ ^[0-9]+$ ]] || { echo "build.sh: --schema takes a migration number" >&2; exit 2; }
[ "$jdbc" = false ] || [ -r "$jdbc_driver" ] || {
  echo "build.sh: $jdbc_driver not found; install libpostgresql-jdbc-java or set JDBC_DRIVER_JAR" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/war/WEB-INF/classes"
javac --release 17 -nowarn -cp "$servlet_api" -d "$stage/war/WEB-INF/classes" "$here"/src/org/example/app/*.java
cp "$here/web/WEB-INF/web.xml" "$stage/war/WEB-INF/web.xml"
if [ "$jdbc" = true ]; then
  mkdir -p "$stage/war/WEB-INF/lib"
  cp "$jdbc_driver" "$stage/war/WEB-INF/lib/postgresql.jar"
fi
cat > "$stage/war/WEB-INF/app.properties" <<PROPS
health.fail=$health_fail
error.every=$error_every
error.rate=$error_rate
delay.ms=$delay_ms
schema.version=$schema
db.columns=$db_columns
PROPS
printf 'Implementation-Title: sample-webapp\nImplementation-Version: %s\n' "$version" > "$stage/manifest.txt"
mkdir -p "$(dirname "$out")"
# Reproducible: with SOURCE_DATE_EPOCH (the orchestrator sets it to the commit's time) every
# entry carries that time, so the same revision builds the same bytes, the same release.
reproducible=()
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  reproducible=(--date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)")
fi
# Write beside the target, then rename: a reader never sees half a WAR.
jar --create "${reproducible[@]}" --file "$out.tmp" --manifest "$stage/manifest.txt" -C "$stage/war" .
mv -f "$out.tmp" "$out"
echo "$out"
