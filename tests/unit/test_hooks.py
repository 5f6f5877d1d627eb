import subprocess

from orchestrator.push import hooks


def test_hg_hook_install_is_idempotent_and_keeps_other_settings(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["hg", "init", str(repo)], check=True)
    hgrc = repo / ".hg" / "hgrc"
    hgrc.write_text("[ui]\nusername = ann\n")
    hooks.install_hg(repo, tmp_path / "spool")
    hooks.install_hg(repo, tmp_path / "spool2")
    text = hgrc.read_text()
    assert text.startswith("[ui]\nusername = ann\n")
    assert text.count(hooks.BEGIN) == 1
    assert f"spool = {tmp_path / 'spool2'}" in text
    assert "changegroup.orchestrator = python:" in text


def test_git_hook_is_ours_or_left_alone(tmp_path):
    repo = tmp_path / "app.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    hook = hooks.install_git(repo, tmp_path / "spool")
    hooks.install_git(repo, tmp_path / "spool")
    assert hook.read_text().count(hooks.BEGIN) == 1
    assert hook.stat().st_mode & 0o111


def test_post_receive_lines_make_one_flag_per_branch_update(tmp_path):
    (tmp_path / "incoming").mkdir()
    zero, new = "0" * 40, "a" * 40
    written = hooks.git_post_receive(
        [f"{zero} {new} refs/heads/main", f"{zero} {new} refs/tags/v1", f"{new} {zero} refs/heads/gone", "garbage"],
        spool=tmp_path,
        repository="r",
    )
    assert len(written) == 1
