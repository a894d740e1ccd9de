"""The demo server behind ``fastphx serve`` and the README: a few realistic channels.

- ``console:lobby``: the join answers a welcome envelope shaped like the wschannel one
  (``welcome``, ``scope``, ``team``, ``role``, ``streams``) and tracks the joiner in
  Presence; ``scope.switch_team`` ``{"team_id": id}`` answers a SwitchTeamReply-shaped
  response, or the errors ``forbidden`` (not a member), ``not_found`` (no such team) and
  ``noop`` (already the current team).
- ``room:*``: ``echo`` replies with its payload (bytes in, binary reply out); ``stream``
  ``{"count": N}`` replies ``{"count": N}`` then pushes N messages ``{"i": k, "data": ...}``
  (event ``stream``, k = 1..N); the joiner is tracked in Presence.
- ``demo:ticker``: a stream to watch (``fastphx listen URL --topic demo:ticker``): a
  ``tick`` push ``{"n": k, "at": unix_seconds}`` every half second while joined.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .server import ChannelContext, PhoenixTestServer, ServerReply

__all__ = ["demo_server"]

_TEAMS: dict[str, dict[str, Any]] = {
    "team_personal": {"id": "team_personal", "name": "Personal", "personal": True,
                      "ownership_model": "user"},
    "team_acme": {"id": "team_acme", "name": "Acme", "personal": False,
                  "ownership_model": "organization"},
    "team_other": {"id": "team_other", "name": "Other Co", "personal": False,
                   "ownership_model": "organization"},
}
_MEMBER_OF = ("team_personal", "team_acme")
_STREAM_DATA = "x" * 32


def _envelope(user_id: str, team_id: str) -> dict[str, Any]:
    """The scope/team/role/streams block shared by the welcome and switch_team replies."""
    return {
        "scope": {"user_id": user_id, "team_id": team_id, "plan": "pro"},
        "team": _TEAMS[team_id],
        "role": "owner" if _TEAMS[team_id]["personal"] else "member",
        "streams": {"catalog": [f"catalog:{team_id}"], "items": []},
    }


def _user_of(ctx: ChannelContext) -> str:
    return ctx.connection.params.get("user_id") or f"user_{ctx.connection.id}"


async def _lobby_join(ctx: ChannelContext, params: Any) -> dict[str, Any]:
    user = _user_of(ctx)
    team = ctx.connection.assigns.setdefault("team", "team_personal")
    ctx.track(user, {"device": "fastphx", "id": user})
    return {"welcome": f"hello {user}", **_envelope(user, team)}


async def _switch_team(ctx: ChannelContext, payload: Any) -> Any:
    team_id = payload.get("team_id") if isinstance(payload, dict) else None
    if team_id not in _TEAMS:
        return ServerReply("error", {"code": "not_found", "message": f"no team {team_id!r}"})
    if team_id not in _MEMBER_OF:
        return ServerReply("error", {"code": "forbidden", "message": "not a member"})
    if ctx.connection.assigns.get("team") == team_id:
        return ServerReply("error", {"code": "noop", "message": "already in scope"})
    ctx.connection.assigns["team"] = team_id
    return _envelope(_user_of(ctx), team_id)


async def _room_join(ctx: ChannelContext, params: Any) -> dict[str, Any]:
    ctx.track(_user_of(ctx), {"device": "fastphx"})
    return {"welcome": ctx.topic}


async def _echo(ctx: ChannelContext, payload: Any) -> Any:
    return payload


_TICK_SECONDS = 0.5


async def _tick(ctx: ChannelContext) -> None:
    """Push a tick every half second until the connection closes."""
    n = 0
    while not ctx.connection.closed:
        n += 1
        await ctx.push("tick", {"n": n, "at": round(time.time(), 3)})
        await asyncio.sleep(_TICK_SECONDS)


def demo_server(port: int = 0) -> PhoenixTestServer:
    """Return an unstarted PhoenixTestServer with the demo channels (see the module doc)."""
    server = PhoenixTestServer(port=port)
    tasks: set[asyncio.Task[Any]] = set()

    async def stream(ctx: ChannelContext, payload: Any) -> Any:
        count = int(payload.get("count", 0)) if isinstance(payload, dict) else 0
        items = ({"i": k, "data": _STREAM_DATA} for k in range(1, count + 1))
        task = asyncio.get_running_loop().create_task(
            server.push_many(ctx.topic, "stream", items, join_ref=ctx.join_ref))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"count": count}

    async def ticker_join(ctx: ChannelContext, params: Any) -> Any:
        task = asyncio.get_running_loop().create_task(_tick(ctx))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"interval": _TICK_SECONDS}

    server.add_channel("demo:ticker", join=ticker_join)
    server.add_channel("console:lobby", join=_lobby_join,
                       handlers={"scope.switch_team": _switch_team})
    server.add_channel("room:*", join=_room_join, handlers={"echo": _echo, "stream": stream})
    return server
