#!/usr/bin/env bash
# The sample application's tests, run by the pipeline after the build: check the WAR it made.
#   ./test.sh build/app.war
set -euo pipefail
war=${1:?usage: test.sh WAR}
fail() { echo "FAIL: $*" >&2; exit 1; }

version=$(cat VERSION 2>/dev/null || true)
[[ "$version" =~ ^[A-Za-z0-9._-]+$ ]] || fail "VERSION must hold a plain version, has '$version'"
listing=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$war")
grep -qx "WEB-INF/web.xml" <<<"$listing" || fail "the WAR has no WEB-INF/web.xml"
grep -qx "WEB-INF/classes/org/example/app/AppServlet.class" <<<"$listing" || fail "the WAR has no AppServlet"
manifest=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("META-INF/MANIFEST.MF").decode())' "$war")
grep -q "^Implementation-Version: $version" <<<"$manifest" || fail "the manifest does not say version $version"
echo "ok: $war is version $version"
