"""Names that become paths are checked once by the safe-name rule, and an existing output that
is not macs's own is never replaced without --force (issue 22, 'write only where macs owns')."""

from __future__ import annotations

import pytest

from macs.app.cli import main
from macs.app.config import load_config
from macs.core.errors import MacsError
from macs.core.names import check_name, check_output, check_under, is_store, name_problem

BAD = ["", "..", "../x", "a/b", "a\\b", ".hidden", "-opt", "a..b", "x" * 129, "a b", "a\x00b"]
GOOD = ["demo", "mini", "multi_actor:quality+domain", "v1.2", "run-3_x", "données"]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_names_are_refused(name):
    assert name_problem(name) is not None
    with pytest.raises(MacsError, match="not a safe name"):
        check_name(name, "store")


@pytest.mark.parametrize("name", GOOD)
def test_safe_names_pass(name):
    assert check_name(name, "store") == name


def test_run_names_may_nest_but_not_escape():
    assert name_problem("root/multi_actor-s0", nested=True) is None
    for bad in ("../x", "a//b", "/abs", "a/../b", "a/.b", "a/"):
        assert name_problem(bad, nested=True) is not None, bad


@pytest.mark.parametrize(
    "sets",
    [
        ["run.name=../../../x"],
        ["corpus.name=../../../victim"],
        ["tokenizer.name=../tok"],
        ["selection.actors=[a/b]"],
        ["selection.actors=[{name: quality, labels: ../q}]"],
    ],
)
def test_config_names_are_one_line_errors(sets):
    with pytest.raises(MacsError, match="not a safe") as e:
        load_config(None, sets)
    assert "\n" not in str(e.value)


def test_unsafe_variant_name_blames_the_variant_name(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("compare:\n  variants:\n    ../evil: {method: random}\n")
    for args in ((cfg, None), (None, ['compare.variants={"../evil": {"method": "random"}}'])):
        with pytest.raises(MacsError) as e:
            load_config(*args)
        msg = str(e.value)
        assert "compare.variants: " in msg and "variant name '../evil' is not a safe name" in msg
        assert "invalid overrides" not in msg and "run.name" not in msg and "\n" not in msg


@pytest.mark.parametrize("given", ["--methods", "compare.methods"])
def test_unsafe_method_name_blames_where_it_was_given(given, tmp_path):
    from macs.app.pipeline import run_compare

    runs = f"run.runs_dir={tmp_path / 'runs'}"
    if given == "--methods":
        cfg, methods = load_config(None, [runs]), ["random", "../e"]
    else:
        cfg, methods = load_config(None, [runs, "compare.methods=[random, ../e]"]), None
    with pytest.raises(MacsError) as e:
        run_compare(cfg, methods)
    assert str(e.value).startswith(f"{given}: method '../e' is not a safe name: it contains '..'")
    assert "invalid overrides" not in str(e.value) and "run.name" not in str(e.value)
    assert not (tmp_path / "runs").exists()  # refused before any data or run folder


def test_run_dir_checked_even_when_set_after_validation(tmp_path):
    cfg = load_config(None, [f"run.runs_dir={tmp_path}"])
    cfg.run.name = "../escape"
    with pytest.raises(MacsError, match="not a safe name"):
        _ = cfg.run.run_dir
    cfg.run.name = "ok"
    (tmp_path / "ok").symlink_to(tmp_path.parent)  # a symlink that leads outside runs_dir
    with pytest.raises(MacsError, match="outside"):
        _ = cfg.run.run_dir
    assert check_under(tmp_path / "x" / "y", tmp_path, "run") == tmp_path / "x" / "y"


def test_check_output_refuses_foreign_folders_and_files(tmp_path):
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "manifest.json").write_text('{"n_docs": 0, "shards": []}')
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(ours, "corpus store", is_store)
    check_output(empty, "corpus store", is_store)
    check_output(tmp_path / "new", "corpus store", is_store)
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "paper.tex").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "manifest.json").write_text('{"name": "a web app"}')
    for p in (thesis, tmp_path / "file", tmp_path / "web"):
        with pytest.raises(MacsError, match="is not a macs corpus store.*--force") as e:
            check_output(p, "corpus store", is_store)
        assert str(p) in str(e.value)
        check_output(p, "corpus store", is_store, force=True)


def _macs(argv, capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_import_name_that_escapes_is_refused(tmp_path, mini_corpus_path, capsys, monkeypatch):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    monkeypatch.chdir(work)
    argv = ["corpus", "import", str(mini_corpus_path), "--name", "../../../victim", "-q"]
    code, _, err = _macs(argv, capsys)
    assert code == 2 and err.count("error:") == 1 and "not a safe name" in err
    # blamed on the flag the user typed, not on the config field or the --set overrides
    assert err.startswith("error: --name: store name '../../../victim' is not a safe name"), err
    assert "--set" not in err and "corpus.name" not in err
    assert (victim / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_import_refuses_foreign_out_unless_force(tmp_path, mini_corpus_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "paper.tex").write_text("chapter 1")
    argv = ["corpus", "import", str(mini_corpus_path), "--out", str(thesis), "-q"]
    code, _, err = _macs(argv, capsys)
    assert code == 2 and str(thesis) in err and "--force" in err
    assert (thesis / "paper.tex").read_text() == "chapter 1"
    code, out, _ = _macs([*argv, "--force"], capsys)
    assert code == 0 and "imported 279 records" in out
    assert is_store(thesis) and not (thesis / "paper.tex").exists()
    code, out, _ = _macs(argv, capsys)  # now a store: replacing it needs no --force
    assert code == 0


def test_import_help_states_force():
    import typer.main

    from macs.app.cli import app

    cmd = typer.main.get_command(app).commands["corpus"].commands["import"]
    (force,) = [p for p in cmd.params if "--force" in p.opts]
    assert "not a macs corpus store" in force.help


def test_actor_with_a_slash_is_one_line(tmp_path, mini_store, capsys):
    for actors, want in (("a/b", "not a safe name"), ("qualty", "did you mean 'quality'")):
        argv = ["label", "--store", str(mini_store.path), "--actors", actors]
        code, _, err = _macs(argv, capsys)
        assert code == 2 and err.count("\n") == 1 and want in err, err


def test_one_run_folder_rule_for_compare():
    """`macs compare` names a (method, seed) run by the one rule in macs.core.names; the GPU
    bundle's phases (tools/macs_bundle) use it too: tests/tools/test_gpu_bundle.py checks that."""
    from macs.app.pipeline import run_dir_name
    from macs.core.names import method_run_name

    assert method_run_name("multi_actor:quality+domain", 3) == "multi_actor-quality+domain-s3"
    assert method_run_name("pkg/mod:Class", 0) == "pkg_mod-Class-s0"
    for m in ("random", "random@multi_actor", "multi_actor:quality+domain", "pkg/mod:Class"):
        assert run_dir_name("job", m, 7) == f"job/{method_run_name(m, 7)}"
