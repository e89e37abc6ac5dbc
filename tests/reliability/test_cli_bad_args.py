"""Every `macs` command (found by walking the typer app, so commands added later are covered)
given bad arguments: a missing --config file, a config with bad YAML, an unknown field or a
wrong type, an invalid --set, a negative budget, a nonexistent positional path. Each must
exit non-zero with exactly one `error:` line naming the culprit, and never a traceback."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import typer
import typer.main

from macs.app.cli import app, main

NOWHERE = "/nonexistent/macs-test"
# options that name an input that must exist (a missing tokenizer, store, model, run, ...)
INPUT_OPTIONS = {"--store", "--tokenizer", "--model", "--resume", "--corpus", "--token-shards"}


def _commands(t: typer.Typer, path: tuple[str, ...] = ()):
    """(command words, python function) of every command of a typer app, sub-apps included."""
    for c in t.registered_commands:
        yield (*path, c.name or c.callback.__name__.replace("_", "-")), c.callback
    for g in t.registered_groups:
        inst = g.typer_instance
        cb = inst.registered_callback
        if cb is not None and inst.info.invoke_without_command is True:  # runs by itself too
            yield (*path, g.name), cb.callback
        yield from _commands(g.typer_instance, (*path, g.name))


def _click(words: tuple[str, ...]):
    cmd = typer.main.get_command(app)
    for w in words:
        cmd = cmd.commands[w]
    return cmd  # a group's own options are its params too


def _is_path(fn, name: str) -> bool:
    hint = typing.get_type_hints(fn).get(name)
    args = typing.get_args(hint) or (hint,)
    inner = [typing.get_args(a) or (a,) for a in args]
    return any(a is Path for group in inner for a in group)


COMMANDS = sorted(_commands(app), key=lambda c: c[0])


def _cases(words, fn, tmp: Path) -> list[tuple[str, list[str], str]]:
    """(case name, argv, text the error must contain) for one command."""
    cmd = _click(words)
    opts = {o for p in cmd.params for o in p.opts}
    required = []
    for p in cmd.params:  # fill required arguments with a nonexistent path (or a word)
        if p.required:
            value = NOWHERE if _is_path(fn, p.name) else "x"
            required += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    base = list(words) + required
    cases = []
    if "--config" in opts:
        bad_yaml = tmp / "bad-syntax.yaml"
        bad_yaml.write_text("corpus: [unclosed\n  name: x\n")
        unknown = tmp / "unknown-field.yaml"
        unknown.write_text("corpus:\n  nmae: mine\n")
        wrong = tmp / "wrong-type.yaml"
        wrong.write_text("train:\n  tokens: lots\n")
        cases += [
            ("missing config", [*base, "--config", str(tmp / "nope.yaml")], "nope.yaml"),
            ("bad yaml", [*base, "--config", str(bad_yaml)], "not valid YAML"),
            ("unknown field", [*base, "--config", str(unknown)], "'corpus.nmae'"),
            ("wrong type", [*base, "--config", str(wrong)], "train.tokens"),
        ]
    if "--set" in opts:
        cases += [
            ("invalid --set", [*base, "--set", "corpus.name"], "--set 'corpus.name'"),
            ("negative budget", [*base, "--set", "selection.tokens=-5"], "selection.tokens"),
        ]
    for p in cmd.params:  # input files/folders named by an option
        if p.param_type_name == "option" and not p.required and set(p.opts) & INPUT_OPTIONS:
            # other inputs (the default store) may be missing too and be named first
            cases.append((f"nonexistent {p.opts[0]}", [*base, p.opts[0], NOWHERE], ""))
    for p in cmd.params:
        if p.param_type_name == "argument" and _is_path(fn, p.name):
            argv = base if p.required else [*base, NOWHERE]
            cases.append((f"nonexistent {p.name}", argv, NOWHERE))
    return cases


@pytest.mark.parametrize("words", [c[0] for c in COMMANDS], ids=" ".join)
def test_bad_arguments_give_one_error_line(words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a command might create lands in the repository
    fn = dict(COMMANDS)[words]
    cases = _cases(words, fn, tmp_path)
    assert cases, f"macs {' '.join(words)}: no bad-argument case applies; add one"
    for name, argv, culprit in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        out, err = capsys.readouterr()
        where = f"macs {' '.join(argv)} ({name})"
        assert e.value.code not in (0, None), where
        assert "Traceback" not in out + err, where
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}: {err!r}"
        required_path = NOWHERE in argv[: len(words) + 4] and culprit != NOWHERE
        assert culprit in lines[0] or (required_path and NOWHERE in lines[0]), f"{where}: {err!r}"


def test_every_command_is_walked():
    """The walk finds the commands the README lists (and any added since)."""
    names = {" ".join(w) for w, _ in COMMANDS}
    assert {"corpus import", "corpus tokenize", "label", "select", "train", "run", "eval"} <= names


@pytest.mark.parametrize(
    "override",
    [
        "selection.tokens=-5",
        "train.tokens=-1e6",
        "train.batch_size=0",
        "corpus.max_chunk_bytes=-1",
        "labels.rows_per_part=0",
    ],
)
def test_negative_budgets_and_sizes_are_refused(override):
    from macs.app.config import load_config
    from macs.core.errors import MacsError

    with pytest.raises(MacsError, match=override.split("=")[0]):
        load_config(None, [override])


@pytest.mark.parametrize("override", ["train.lr=-1", "model.n_layers=-2"])
def test_negative_train_settings_are_refused(override):
    from macs.app.config import load_config
    from macs.core.errors import MacsError

    with pytest.raises(MacsError, match=override.split("=")[0]):
        load_config(None, [override])
