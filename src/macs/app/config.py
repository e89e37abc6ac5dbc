"""The YAML config: one pydantic model per layer, composed here.

Every field can be overridden on the command line with `--set section.field=value`
(the value is parsed as YAML). The resolved config is saved in every run directory.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from macs.core.errors import MacsError
from macs.data.corpus.config import CorpusConfig, TokenizerConfig
from macs.data.labels.config import LabelsConfig
from macs.eval.config import EvalConfig
from macs.select.console.config import SelectionConfig
from macs.select.rewards.config import InfluenceConfig
from macs.select.selectors.config import BaselinesConfig, CompareConfig
from macs.train.config import ModelConfig, TrainConfig


def _macs_home() -> Path:
    """The data directory when the config names none: $MACS_HOME (set once, so the API and the
    CLI find the stores from any folder), else .macs in the current folder."""
    import os

    home = os.environ.get("MACS_HOME", "").strip()
    return Path(home).expanduser() if home else Path(".macs")


class RunConfig(BaseModel):
    """Where things go and the one seed every random choice derives from."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("demo", description="run name; the run directory is runs_dir/name")
    seed: int = Field(0, description="master seed: every random choice derives from it")
    runs_dir: Path = Field(Path("runs"), description="parent folder of run directories")
    data_dir: Path = Field(
        default_factory=lambda: _macs_home(),
        description="corpus stores, tokenizers, label sidecars (default: $MACS_HOME, else .macs)",
    )
    cache_dir: Path | None = Field(None, description="downloaded sources (default ~/.cache/macs)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        from macs.core.names import name_problem

        problem = name_problem(v, nested=True)
        if problem:
            raise ValueError(f"not a safe run name: {problem}; runs go inside run.runs_dir")
        return v

    @property
    def run_dir(self) -> Path:
        """runs_dir/name, checked (name rule, symlinks resolved) to stay inside runs_dir."""
        from macs.core.names import check_name, check_under

        check_name(self.name, "run name", nested=True)  # also when set after validation
        return check_under(self.runs_dir / self.name, self.runs_dir, "run directory")

    @property
    def resolved_cache_dir(self) -> Path:
        import os

        if self.cache_dir is not None:
            return self.cache_dir
        env = os.environ.get("MACS_CACHE")
        return Path(env) if env else Path.home() / ".cache" / "macs"


class Config(BaseModel):
    """The whole macs configuration."""

    model_config = ConfigDict(extra="forbid")
    run: RunConfig = Field(default_factory=RunConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    baselines: BaselinesConfig = Field(default_factory=BaselinesConfig)
    influence: InfluenceConfig = Field(default_factory=InfluenceConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)

    def save(self, path: str | Path) -> None:
        """Write the resolved config atomically (the trainer calls this without importing here)."""
        save_config(self, path)


def parse_overrides(sets: list[str] | None) -> dict[str, Any]:
    """Turn ['a.b=1', 'c=x'] into a nested dict {'a': {'b': 1}, 'c': 'x'} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in sets or []:
        if "=" not in item:
            raise MacsError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.tokens=2e6")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise MacsError(f"--set {item!r}: empty key part in {key!r}")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise MacsError(f"--set {item!r}: {p!r} is set both as a value and a section")
        try:
            node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as e:
            raise MacsError(
                f"--set {item!r}: the value is not valid YAML ({getattr(e, 'problem', None) or e}); "
                f"quote it, e.g. --set {key.strip()}='\"...\"'"
            ) from e
    return out


def deep_merge(base: dict, top: dict) -> dict:
    """Recursively merge `top` over `base` (new dict)."""
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: str | Path | None = None, sets: list[str] | None = None) -> Config:
    """Load a YAML config (or the defaults when `path` is None) and apply `--set` overrides;
    any problem is one MacsError line naming the file or field and the fix."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise MacsError(f"config file {path} {what}; give a YAML file to --config")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise MacsError(f"{path}: not valid YAML{at}: {problem}; fix the file's syntax") from e
        except (UnicodeDecodeError, OSError) as e:
            raise MacsError(f"{path}: cannot be read as UTF-8 text ({e}); give a YAML file") from e
        if not isinstance(data, dict):
            raise MacsError(f"{path}: the top level must be a mapping of sections")
    data = deep_merge(data, parse_overrides(sets))
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        keys = {item.split("=", 1)[0].strip() for item in sets or []}
        cli = [_cli_key(err, keys) for err in errs]
        problems = "; ".join(_describe(err) for err in errs[:5])
        more = f"; and {len(errs) - 5} more" if len(errs) > 5 else ""
        if path is not None and not any(cli):
            raise MacsError(f"{path}: {problems}{more} (fix it in {path})") from e
        flags = sorted({k for k in cli if k})
        fix = (
            f"fix {', '.join(flags) or 'the value'}, given by --set or by an option of the command"
        )
        raise MacsError(f"the command line: {problems}{more} ({fix})") from e


def _cli_key(err: dict, keys: set[str]) -> str | None:
    """The --set key (also what a command's option sets) that an error's field came from, if any."""
    name = ".".join(str(x) for x in err["loc"])
    hits = sorted(
        k for k in keys if name == k or name.startswith(k + ".") or k.startswith(name + ".")
    )
    return ", ".join(hits) or None  # (a section's own check: the keys set inside it)


def _describe(err: dict) -> str:
    """One pydantic error as 'field: problem (got value)', or 'unknown field ... (did you mean)'."""
    loc = [str(x) for x in err["loc"]]
    name = ".".join(loc)
    if err["type"] == "extra_forbidden":
        known = _known_fields(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        if close:
            hint = f"did you mean {'.'.join([*loc[:-1], close[0]])!r}?"
        else:
            hint = f"known: {', '.join(known)}" if known else "not a config field"
        return f"unknown field {name!r} ({hint})"
    got = repr(err.get("input"))
    got = got if len(got) <= 40 else got[:37] + "..."
    msg = err["msg"]
    return f"{name}: {msg[:1].lower() + msg[1:]} (got {got})"


def _known_fields(section: list[str]) -> list[str]:
    """Field names of the config section at `section` (empty if it is not a section)."""
    model: Any = Config
    for part in section:
        field = model.model_fields.get(part)
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def config_to_yaml(cfg: Config) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config atomically."""
    from macs.core.io import write_text

    write_text(path, config_to_yaml(cfg))
