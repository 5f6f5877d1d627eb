import hashlib
import zipfile

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils.warfile import inspect


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
    facts = inspect(str(make_war(tmp_path / "a.war", None)), require_version=False)
    assert facts["war_version"] == ""
    assert facts["war_release_id"] == facts["war_sha256"][:12]


def test_unsafe_version_characters_do_not_reach_the_release_id(tmp_path):
    facts = inspect(str(make_war(tmp_path / "a.war", "Implementation-Version: ../../etc x\n")))
    assert "/" not in facts["war_release_id"] and " " not in facts["war_release_id"]


@pytest.mark.parametrize(
    "content, reason",
    [(None, "does not exist"), (b"", "is empty"), (b"PK-not-really", "is not a WAR: it is not a zip archive")],
)
def test_rejected_files(tmp_path, content, reason):
    path = tmp_path / "x.war"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        inspect(str(path))


def zip_with(path, entries: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Implementation-Version: 1\n")
        for name, data in entries.items():
            z.writestr(name, data)
    return str(path)


def jar_bytes(entries: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "entries, reason",
    [
        ({"index.html": b"<html/>"}, "it has no WEB-INF/ directory"),
        ({"WEB-INF/classes/org/Plain.class": b"\xca\xfe\xba\xbe java/lang/Object"}, "it has neither WEB-INF/web.xml"),
        ({"WEB-INF/lib/util.jar": jar_bytes({"org/Util.class": b"\xca\xfe"})}, "it has neither WEB-INF/web.xml"),
    ],
)
def test_a_zip_that_is_not_a_web_application_is_refused(tmp_path, entries, reason):
    with pytest.raises(ValueError, match=f"is not a web application: {reason}"):
        inspect(zip_with(tmp_path / "x.war", entries))


@pytest.mark.parametrize(
    "entries",
    [
        {"WEB-INF/web.xml": b"<web-app/>"},
        {"WEB-INF/classes/org/Api.class": b"\xca\xfe\xba\xbe Ljakarta/servlet/annotation/WebServlet;"},
        {"WEB-INF/classes/org/Old.class": b"\xca\xfe\xba\xbe Ljavax/servlet/annotation/WebFilter;"},
        {"WEB-INF/classes/META-INF/services/jakarta.servlet.ServletContainerInitializer": b"org.Init\n"},
        {
            "WEB-INF/lib/spring-web.jar": jar_bytes(
                {"META-INF/services/jakarta.servlet.ServletContainerInitializer": b"org.springframework.web.Init\n"}
            )
        },
        {"WEB-INF/lib/fragment.jar": jar_bytes({"META-INF/web-fragment.xml": b"<web-fragment/>"})},
    ],
)
def test_every_way_a_web_application_declares_itself_is_accepted(tmp_path, entries):
    assert inspect(zip_with(tmp_path / "x.war", entries))["war_version"] == "1"


def test_a_war_without_a_version_is_refused_with_the_fix_unless_allowed(tmp_path):
    war = str(make_war(tmp_path / "a.war", "Manifest-Version: 1.0\n"))
    with pytest.raises(ValueError, match="has no Implementation-Version.*deploy_allow_unversioned: true"):
        inspect(war)
    assert inspect(war, require_version=False)["war_version"] == ""


def test_a_malformed_web_xml_is_refused_with_the_parsers_line_and_message(tmp_path):
    # Given a WAR whose deployment descriptor has a tag left open
    war = tmp_path / "bad.war"
    with zipfile.ZipFile(war, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Implementation-Version: 9\n")
        z.writestr("WEB-INF/web.xml", "<web-app>\n  <servlet>\n</web-app>\n")
    # Then it is refused before any node is touched, saying where
    with pytest.raises(
        ValueError, match=r"WEB-INF/web.xml is not well-formed XML \(mismatched tag: line 3, column 2\)"
    ):
        inspect(str(war))


def test_a_malformed_web_fragment_in_a_library_is_refused_too(tmp_path):
    war = tmp_path / "bad.war"
    with zipfile.ZipFile(war, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Implementation-Version: 9\n")
        z.writestr("WEB-INF/web.xml", "<web-app/>")
        z.writestr(
            "WEB-INF/lib/lib.jar", jar_bytes({"META-INF/web-fragment.xml": b"<web-fragment><oops></web-fragment>"})
        )
    with pytest.raises(ValueError, match=r"WEB-INF/lib/lib.jar!/META-INF/web-fragment.xml is not well-formed XML"):
        inspect(str(war))
