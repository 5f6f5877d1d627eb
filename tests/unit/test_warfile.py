import hashlib
import zipfile

import pytest

from orchestrator.warfile import inspect


def make_war(path, manifest: str | None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if manifest is not None:
            z.writestr("META-INF/MANIFEST.MF", manifest)
        z.writestr("WEB-INF/web.xml", "<web-app/>")
    return path


def test_version_sha_and_release_id(tmp_path):
    war = make_war(tmp_path / "a.war", "Manifest-Version: 1.0\r\nImplementation-Version: 2.1.0\r\n")
    facts = inspect(str(war))
    sha = hashlib.sha256(war.read_bytes()).hexdigest()
    assert facts["war_sha256"] == sha
    assert facts["war_version"] == "2.1.0"
    assert facts["war_release_id"] == f"2.1.0-{sha[:12]}"


def test_manifest_continuation_lines_are_joined(tmp_path):
    war = make_war(tmp_path / "a.war", "Implementation-Version: 1.0.0-SNAPSHOT-build-12345678901234567890123\n 4567\n")
    assert inspect(str(war))["war_version"] == "1.0.0-SNAPSHOT-build-123456789012345678901234567"


def test_without_version_the_release_is_the_hash(tmp_path):
    facts = inspect(str(make_war(tmp_path / "a.war", None)))
    assert facts["war_version"] == ""
    assert facts["war_release_id"] == facts["war_sha256"][:12]


def test_unsafe_version_characters_do_not_reach_the_release_id(tmp_path):
    facts = inspect(str(make_war(tmp_path / "a.war", "Implementation-Version: ../../etc x\n")))
    assert "/" not in facts["war_release_id"] and " " not in facts["war_release_id"]


@pytest.mark.parametrize("content, reason", [(None, "does not exist"), (b"", "is empty"),
                                             (b"PK-not-really", "is not a WAR: it is not a zip archive")])
def test_rejected_files(tmp_path, content, reason):
    path = tmp_path / "x.war"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        inspect(str(path))
