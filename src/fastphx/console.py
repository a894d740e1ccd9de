"""The reference's product envelope, apart from the generic Phoenix client.

The Go ``wschannel`` package this client follows serves one product: its primary topic
defaults to ``console:lobby`` and its ``scope.switch_team`` push answers a typed envelope
(``scope``, ``team``, ``role``, ``streams``) that mirrors the join-time welcome. Those types
live here; :class:`fastphx.Client` uses them (``topic`` default, ``switch_team()``) and the
package re-exports them under their old names.

Parsing is strict like Go's ``encoding/json`` into typed structs: a field of the wrong JSON
type raises :class:`fastphx.EnvelopeError` naming it; a missing or null field takes its
zero value; unknown fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import EnvelopeError

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "DEFAULT_TOPIC",
    "SWITCH_TEAM_EVENT",
    "ScopeBlock",
    "SwitchTeamReply",
    "SwitchedStreamSet",
    "SwitchedTeam",
    "switch_team",
]

#: The primary topic when none (or ``""``) is given, as the reference's Options.Topic.
DEFAULT_TOPIC = "console:lobby"
#: The event ``switch_team`` pushes on the primary topic.
SWITCH_TEAM_EVENT = "scope.switch_team"

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean",
               int: "number", float: "number"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _object(data: Any, path: str) -> dict[str, Any]:
    """``data`` as an object: null -> {}, anything else but an object -> EnvelopeError."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EnvelopeError(path, "object", _json_type(data))
    return data


def _string(data: dict[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EnvelopeError(f"{path}.{key}", "string", _json_type(value))
    return value


def _strings(data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EnvelopeError(f"{path}.{key}", "array of strings", _json_type(value))
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise EnvelopeError(f"{path}.{key}[{i}]", "string", _json_type(item))
    return tuple(value)


@dataclass(frozen=True, slots=True)
class ScopeBlock:
    """The ``scope`` block of a welcome / switch_team envelope."""

    user_id: str = ""
    team_id: str = ""
    plan: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "scope") -> ScopeBlock:
        """Build from a decoded ``scope`` object. Raises EnvelopeError on a wrong type."""
        obj = _object(data, path)
        return cls(_string(obj, "user_id", path), _string(obj, "team_id", path),
                   _string(obj, "plan", path))


@dataclass(frozen=True, slots=True)
class SwitchedTeam:
    """The new team's basic attributes after ``scope.switch_team``."""

    id: str = ""
    name: str = ""
    personal: bool = False
    ownership_model: str = ""

    @classmethod
    def from_dict(cls, data: Any, path: str = "team") -> SwitchedTeam:
        """Build from a decoded ``team`` object. Raises EnvelopeError on a wrong type."""
        obj = _object(data, path)
        personal = obj.get("personal")
        if personal is not None and not isinstance(personal, bool):
            raise EnvelopeError(f"{path}.personal", "boolean", _json_type(personal))
        return cls(_string(obj, "id", path), _string(obj, "name", path), bool(personal),
                   _string(obj, "ownership_model", path))


@dataclass(frozen=True, slots=True)
class SwitchedStreamSet:
    """The post-switch stream split: ``catalog`` (rebound) and ``items`` (kept)."""

    catalog: tuple[str, ...] = ()
    items: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "streams") -> SwitchedStreamSet:
        """Build from a decoded ``streams`` object. Raises EnvelopeError on a wrong type."""
        obj = _object(data, path)
        return cls(_strings(obj, "catalog", path), _strings(obj, "items", path))


@dataclass(frozen=True, slots=True)
class SwitchTeamReply:
    """The success envelope of ``scope.switch_team`` (mirrors the welcome envelope)."""

    scope: ScopeBlock
    team: SwitchedTeam
    role: str
    streams: SwitchedStreamSet
    raw: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_response(cls, response: Any) -> SwitchTeamReply:
        """Parse a decoded reply ``response`` (null: every field takes its zero value).

        Raises EnvelopeError naming the first field of the wrong JSON type.
        """
        data = _object(response, "response")
        return cls(
            scope=ScopeBlock.from_dict(data.get("scope")),
            team=SwitchedTeam.from_dict(data.get("team")),
            role=_string(data, "role", "response"),
            streams=SwitchedStreamSet.from_dict(data.get("streams")),
            raw=response,
        )


async def switch_team(client: Client, team_id: str, *,
                      timeout: float | None = None) -> SwitchTeamReply:
    """Push ``scope.switch_team`` ``{"team_id": team_id}`` on ``client``'s primary topic and
    return the parsed reply. Raises ChannelError for every error code (``noop``
    included), EnvelopeError for a reply of the wrong shape, and like ``Client.push``."""
    reply = await client.push(client.topic, SWITCH_TEAM_EVENT, {"team_id": team_id},
                              timeout=timeout)
    return SwitchTeamReply.from_response(reply.response)
