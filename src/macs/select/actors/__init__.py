"""macs.select.actors: actors put every document in one group and keep one weight per group (pure numpy)."""

from macs.select.actors.base import UPDATE_RULES, Actor
from macs.select.actors.init import available_inits, initial_weights, register_init
from macs.select.actors.registry import (
    DomainActor,
    QualityActor,
    SidecarActor,
    TopicActor,
    actor_class,
    build_actor,
    register_actor,
    registered_actors,
)

__all__ = [
    "UPDATE_RULES",
    "Actor",
    "DomainActor",
    "QualityActor",
    "SidecarActor",
    "TopicActor",
    "actor_class",
    "available_inits",
    "build_actor",
    "initial_weights",
    "register_actor",
    "register_init",
    "registered_actors",
]
