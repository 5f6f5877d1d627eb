"""The sample application's build is reproducible: the pipeline sets SOURCE_DATE_EPOCH to the
commit's time, and the same revision makes the same WAR, so the same release."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime

from tests.conftest import build_war

COMMITTED = 1790000000  # 2026-09-21 14:13:20 UTC


def test_the_same_revision_builds_the_same_war(tmp_path, monkeypatch):
    # Given a commit's time in SOURCE_DATE_EPOCH, as the pipeline passes it
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(COMMITTED))
    monkeypatch.setenv("TZ", "Europe/Berlin")  # the build machine's zone must not matter
    # When the same source is built twice
    first, second = (build_war(tmp_path / f"app{n}.war", "7") for n in (1, 2))
    # Then every entry carries the commit's time, not the build's, and the two are the same bytes
    stamped = datetime.fromtimestamp(COMMITTED, UTC).timetuple()[:6]
    assert {info.date_time for info in zipfile.ZipFile(first).infolist()} == {stamped}
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
