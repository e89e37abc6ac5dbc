"""Built-in actors (quality, domain, topic) and the registry that lets users add their own.

An actor class builds itself from a corpus store with `from_store`. The built-ins read the
label sidecars written by `macs label` (`macs.data.labels.sidecar.load_labels`). To add an
actor, subclass `SidecarActor` (labels from a sidecar of another name) or `Actor`
(override `from_store` to compute groups any way you like), then either decorate it with
`@register_actor("name")` or name it in the config by dotted path
(`selection.actors: [{name: lang, cls: "mypkg.actors:LangActor"}]`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from macs.core.errors import MacsError
from macs.select.actors.base import Actor

_ACTORS: dict[str, type[Actor]] = {}


def register_actor(name: str) -> Callable[[type[Actor]], type[Actor]]:
    """Class decorator: make an Actor subclass available under `name` in `selection.actors`."""

    def deco(cls: type[Actor]) -> type[Actor]:
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise TypeError(f"register_actor({name!r}) needs an Actor subclass, got {cls!r}")
        _ACTORS[name] = cls
        return cls

    return deco


def registered_actors() -> list[str]:
    """Names of the registered actor classes."""
    return sorted(_ACTORS)


def actor_class(ref: str) -> type[Actor]:
    """The Actor class registered as `ref`, or imported from a dotted path 'pkg.mod:Class' / 'pkg.mod.Class'."""
    if ref in _ACTORS:
        return _ACTORS[ref]
    if ":" in ref:
        mod_name, _, attr = ref.partition(":")
    elif "." in ref:
        mod_name, _, attr = ref.rpartition(".")
    else:
        raise MacsError(
            f"unknown actor {ref!r}: registered actors are {registered_actors()}; a custom actor is "
            "named by its dotted path, e.g. 'mypkg.actors:MyActor'"
        )
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise MacsError(f"actor class {ref!r}: cannot import module {mod_name!r} ({e})") from e
    cls = getattr(mod, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise MacsError(f"actor class {ref!r}: {attr!r} in {mod_name} is not an Actor subclass")
    return cls


class SidecarActor(Actor):
    """An actor whose groups come from a label sidecar `<store>/labels/<labels>/`."""

    kind: ClassVar[str] = "sidecar"
    labels: ClassVar[str | None] = None  # sidecar name; default: the actor's name

    @classmethod
    def load_groups(cls, store, labels: str) -> tuple[np.ndarray, list[str]]:
        """(group id per doc in canonical order, group names) from the sidecar `labels`."""
        from macs.data.labels.sidecar import load_labels

        lab = load_labels(store, labels)
        return lab.group, list(lab.group_names)

    @classmethod
    def from_store(
        cls,
        name: str,
        store,
        labels: str | None = None,
        n_tokens: np.ndarray | None = None,
        **kwargs: Any,
    ) -> Actor:
        """Build the actor from the store's labels (`labels` names the sidecar; default: class or actor name)."""
        groups, names = cls.load_groups(store, labels or cls.labels or name)
        return cls(name, groups, names, n_tokens=n_tokens, **kwargs)


@register_actor("quality")
class QualityActor(SidecarActor):
    """Quality bins (paper: FineWeb-Edu score 0-5 cut at 1, 2, 3, 4; 5 groups)."""

    kind: ClassVar[str] = "quality"


@register_actor("domain")
class DomainActor(SidecarActor):
    """The document's source domain; falls back to the store's `domain` column without a sidecar."""

    kind: ClassVar[str] = "domain"

    @classmethod
    def load_groups(cls, store, labels: str) -> tuple[np.ndarray, list[str]]:
        """Groups from the domain sidecar, or else from the store's own domain metadata."""
        from macs.data.labels.sidecar import available_actors

        if labels in available_actors(store):
            return super().load_groups(store, labels)
        codes, names = store.domains()
        if not names:
            raise MacsError(f"store {store.path}: no domains and no {labels!r} label sidecar")
        return codes, names


@register_actor("topic")
class TopicActor(SidecarActor):
    """Topic clusters or classes (paper: 13 topics)."""

    kind: ClassVar[str] = "topic"


def build_actor(
    name: str,
    store,
    cls: str | None = None,
    labels: str | None = None,
    n_tokens: np.ndarray | None = None,
    **kwargs: Any,
) -> Actor:
    """Build actor `name` from `store` with the class `cls` (registry name or dotted path; default `name`)."""
    klass = actor_class(cls or name)
    return klass.from_store(name, store, labels=labels, n_tokens=n_tokens, **kwargs)
