"""Build the labeller of each built-in actor from the labels config."""

from __future__ import annotations

from macs.data.labels.base import Labeller
from macs.data.labels.config import LabelsConfig

ACTOR_KINDS = ("quality", "domain", "topic")


def unknown_actor(name: str, where: str, known: tuple[str, ...] | list[str] = ACTOR_KINDS) -> str:
    """The one-line message for an actor name that is not one of `known` (with the closest one)."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{where}: unknown actor {name!r}; {hint}the actors are {', '.join(known)}"


def make_labeller(actor: str, cfg: LabelsConfig, seed: int = 0) -> Labeller:
    """The configured labeller for `actor` (quality | domain | topic), seeded with `seed`."""
    if actor == "quality":
        from macs.data.labels.quality import QualityLabeller

        return QualityLabeller(cfg.quality, seed)
    if actor == "domain":
        from macs.data.labels.domain import DomainLabeller

        return DomainLabeller(cfg.domain, seed)
    if actor == "topic":
        from macs.data.labels.topic import TopicLabeller

        return TopicLabeller(cfg.topic, seed)
    raise ValueError(f"unknown actor {actor!r}; built-in actors: {ACTOR_KINDS}")
