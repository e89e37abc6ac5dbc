"""Selectors by name: the one registry that `selection.method`, `macs train`, `macs run` and
`macs compare` choose from.

A method spec is a registered name, optionally with an actor subset after a colon:
`multi_actor`, `fixed_theta`, `random`, `quality_topk`, `multi_actor:quality+domain`
(the paper's actor ablations), `fixed_theta:topic`. Users register their own selector classes
with `@register_selector("name")` or name them by dotted path `pkg.mod:Class`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from macs.core.errors import MacsError
from macs.select.selectors.base import Selector, SelectorContext

_SELECTORS: dict[str, type[Selector]] = {}
_BUILTINS = (
    "macs.select.selectors.multi_actor",
    "macs.select.selectors.random",
    "macs.select.selectors.quality",
    "macs.select.selectors.mates",
    "macs.select.selectors.qurating",
    "macs.select.selectors.dsir",
    "macs.select.selectors.perplexity",
    "macs.select.selectors.regmix",
)


def register_selector(name: str) -> Callable[[type[Selector]], type[Selector]]:
    """Class decorator: make a Selector subclass available as a method name."""

    def deco(cls: type[Selector]) -> type[Selector]:
        if not (isinstance(cls, type) and issubclass(cls, Selector)):
            raise TypeError(f"register_selector({name!r}) needs a Selector subclass, got {cls!r}")
        _SELECTORS[name] = cls
        cls.name = name
        return cls

    return deco


def _load_builtins() -> None:
    for mod in _BUILTINS:
        importlib.import_module(mod)


def available_selectors() -> list[str]:
    """Registered method names."""
    _load_builtins()
    return sorted(_SELECTORS)


def parse_method(spec: str) -> tuple[str, list[str] | None]:
    """'multi_actor:quality+domain' -> ('multi_actor', ['quality', 'domain']); 'random' -> ('random', None)."""
    spec = str(spec).strip()
    if not spec:
        raise MacsError("empty method name; choose one of " + ", ".join(available_selectors()))
    if ":" in spec and not _is_dotted(spec):
        name, _, rest = spec.partition(":")
        actors = [a.strip() for a in rest.split("+") if a.strip()]
        if not actors:
            raise MacsError(
                f"method {spec!r}: name the actors after ':', e.g. multi_actor:quality+domain"
            )
        if len(set(actors)) != len(actors):
            raise MacsError(f"method {spec!r}: an actor is named twice")
        return name.strip(), actors
    return spec, None


def _is_dotted(spec: str) -> bool:
    mod, _, attr = spec.partition(":")
    return "." in mod and attr[:1].isupper()


def selector_class(name: str) -> type[Selector]:
    """The Selector class registered as `name`, or imported from 'pkg.mod:Class'."""
    _load_builtins()
    if name in _SELECTORS:
        return _SELECTORS[name]
    if _is_dotted(name):
        mod_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(mod_name), attr, None)
        except ImportError as e:
            raise MacsError(f"method {name!r}: cannot import {mod_name!r} ({e})") from e
        if isinstance(cls, type) and issubclass(cls, Selector):
            return cls
        raise MacsError(f"method {name!r}: {attr!r} in {mod_name} is not a Selector subclass")
    raise MacsError(
        f"unknown method {name!r}; choose from {', '.join(available_selectors())} (an actor subset "
        "as multi_actor:quality+domain), or a Selector class as 'pkg.mod:Class'"
    )


def check_method(spec: str, ctx: SelectorContext) -> type[Selector]:
    """Validate a method spec against a context before any training (MacsError naming method and fix)."""
    name, actors = parse_method(spec)
    cls = selector_class(name)
    if actors is not None and not getattr(cls, "takes_actors", False):
        raise MacsError(
            f"method {spec!r}: {name} takes no actor subset; drop ':{'+'.join(actors)}'"
        )
    ctx.actors = actors
    try:
        cls.check(ctx)
    except MacsError as e:
        msg = str(e)
        raise MacsError(msg if msg.startswith(f"method {spec}") else f"method {spec}: {msg}") from e
    return cls


def build_selector(spec: str, ctx: SelectorContext) -> Selector:
    """The selector for a method spec over ctx (validated first)."""
    cls = check_method(spec, ctx)
    sel = cls(ctx)
    sel.spec = spec
    return sel
