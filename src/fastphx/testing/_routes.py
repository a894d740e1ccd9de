"""Declared channels: topic patterns and their handlers (Phoenix's ``channel`` macros).

Routes are tried in declaration order and the first match wins, as in a Phoenix socket
module; a pattern is an exact topic or a prefix ending in ``*``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._handlers import Handler

__all__ = ["Route", "Routes"]


@dataclass
class Route:
    """Handlers for one topic pattern (exact, or a prefix ending in ``*``)."""

    pattern: str
    join: Handler | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)

    def matches(self, topic: Any) -> bool:
        """True if ``topic`` is this pattern, or starts with its prefix before ``*``."""
        if not isinstance(topic, str):  # a number as topic (accepted by Phoenix) never matches
            return False
        if self.pattern.endswith("*"):
            return topic.startswith(self.pattern[:-1])
        return topic == self.pattern

    def handler(self, event: Any) -> Handler | None:
        """The handler of ``event``, else the ``"*"`` handler, else None."""
        found = self.handlers.get(event) if isinstance(event, str) else None
        return found or self.handlers.get("*")


class Routes:
    """The declared routes, in declaration order."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def route(self, pattern: str) -> Route:
        """Return the route of ``pattern``, declaring it if new."""
        for route in self._routes:
            if route.pattern == pattern:
                return route
        route = Route(pattern)
        self._routes.append(route)
        return route

    def match(self, topic: Any) -> Route | None:
        """Return the first route matching ``topic``, or None."""
        for route in self._routes:
            if route.matches(topic):
                return route
        return None

    def join(self, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator registering a join handler for ``pattern``."""
        def register(fn: Handler) -> Handler:
            self.route(pattern).join = fn
            return fn
        return register

    def handle_in(self, pattern: str, event: str) -> Callable[[Handler], Handler]:
        """Decorator registering the handler of ``event`` on ``pattern``."""
        def register(fn: Handler) -> Handler:
            self.route(pattern).handlers[event] = fn
            return fn
        return register

    def add_channel(self, pattern: str, join: Handler | None,
                    handlers: dict[str, Handler] | None) -> None:
        """Declare a join handler and ``{event: handler}`` for ``pattern``."""
        route = self.route(pattern)
        if join is not None:
            route.join = join
        route.handlers.update(handlers or {})
