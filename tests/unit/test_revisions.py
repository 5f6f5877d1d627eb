"""`trigger --rev` and `deploy --rev` take one revision: an id, a tag, a bookmark or a branch
name, never a range or a revset (real Mercurial and git repositories)."""

from __future__ import annotations

import subprocess

import pytest

from orchestrator import vcs
from orchestrator.errors import InputError


def hg(repo, *args: str) -> str:
    return subprocess.run(["hg", "--cwd", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def hg_repo(tmp_path):
    repo = tmp_path / "hg"
    repo.mkdir()
    hg(repo, "init")
    for n in range(2):
        (repo / "a").write_text(str(n))
        hg(repo, "commit", "-A", "-q", "-m", f"c{n}", "-u", "test")
    hg(repo, "tag", "-u", "test", "-r", "0", "v1.0")
    hg(repo, "bookmark", "-r", "1", "release-bm")
    return repo


@pytest.mark.parametrize("rev", ["0..tip", "tip..0", "0..", "default..default", "..tip"])
def test_a_range_is_refused_with_what_to_give(hg_repo, rev):
    with pytest.raises(InputError, match="is not one revision: give a revision id, a tag, a bookmark or a branch"):
        vcs.resolve(hg_repo, rev=rev)


def test_ids_tags_bookmarks_and_branches_resolve_to_one_revision(hg_repo):
    first = hg(hg_repo, "log", "-r", "0", "-T", "{node}")
    second = hg(hg_repo, "log", "-r", "1", "-T", "{node}")
    assert vcs.resolve(hg_repo, rev="0") == first
    assert vcs.resolve(hg_repo, rev=first[:12]) == first
    assert vcs.resolve(hg_repo, rev="v1.0") == first
    assert vcs.resolve(hg_repo, rev="release-bm") == second
    assert vcs.resolve(hg_repo, rev="default") == hg(hg_repo, "log", "-r", "tip", "-T", "{node}")


def test_an_operator_in_a_name_is_a_name_not_a_revset(hg_repo):
    # "tip-1" would be "tip and not 1" as a revset: as one symbol it is an unknown name
    with pytest.raises(InputError, match="does not exist"):
        vcs.resolve(hg_repo, rev="tip-1")


def test_git_refuses_a_range_too(tmp_path):
    repo = tmp_path / "git"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a").write_text("a")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    with pytest.raises(InputError, match="never a range"):
        vcs.resolve(repo, rev="HEAD..HEAD")
    assert len(vcs.resolve(repo, rev="HEAD")) == 40
