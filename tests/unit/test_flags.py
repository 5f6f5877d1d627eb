import json

import pytest

from orchestrator import flags


def good(**changes):
    data = {
        "schema": 1,
        "source": "hg",
        "repository": "/srv/hg/app",
        "branch": "default",
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "user": "ann",
        "pushed_at": 1.5,
    }
    data.update(changes)
    return json.dumps(data)


def test_round_trip_and_atomic_write(tmp_path):
    (tmp_path / "incoming").mkdir()
    flag = flags.make("git", "/srv/git/app.git", "main", "abcdef1")
    path = flags.write(str(tmp_path), flag)
    assert flags.parse(open(path).read()) == flag
    assert [p.name for p in (tmp_path / "incoming").iterdir()] == [path.rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    "text, field",
    [
        (good(schema=2), "schema is 2"),
        (good(revision="HEAD; rm -rf /"), "field 'revision'"),
        (good(branch="--upload-pack=evil"), "field 'branch'"),
        (good(source="cron"), "field 'source'"),
        (good(pushed_at="yesterday"), "field 'pushed_at'"),
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (good(user="x" * 5000), "larger than"),
    ],
)
def test_bad_flags_are_named(text, field):
    with pytest.raises(flags.FlagError, match=field.replace("[", r"\[")):
        flags.parse(text)
