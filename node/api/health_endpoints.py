"""etcd's operational HTTP endpoints: /health (etcd 3.4, with ?serializable and ?exclude),
/livez and /readyz (etcd 3.5), /version and /metrics (Prometheus text).

/health answers as etcd 3.4's etcdhttp: false on an alarm not excluded, on no leader (unless
serializable), or when a read of one key fails; 503 then. /livez and /readyz run etcd 3.5's
named checks, the Kubernetes way (`ok`, or `[+]name ok` lines with ?verbose; ?exclude=name
skips one). /metrics is the member's registry (node/server/metrics.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from node.api.http_door import (
    NOSNIFF,
    TEXT_PLAIN,
    HttpDoor,
    HttpRequest,
    HttpResponse,
    send_text,
)
from node.api.service import Service
from node.messages import errors
from node.messages.kv import RangeRequest
from node.messages.maintenance import AlarmType
from node.server.v3_server import CLUSTER_VERSION, SERVER_VERSION

HEALTH_KEY = b"health"
"""The key the read checks range over (keys only, limit 1), as etcd's health checks."""

Check = Callable[[], Awaitable[str | None]]
"""A named check: None when it passes, else why it failed."""


class HealthEndpoints:
    """/health, /livez, /readyz, /version and /metrics of one member."""

    PATHS = ("/health", "/livez", "/readyz", "/version", "/metrics")
    METRICS_URL_PATHS = ("/health", "/livez", "/readyz", "/metrics")
    """What a --listen-metrics-urls listener serves (no /version, no gateway), as etcd's."""

    def __init__(self, service: Service, *, metrics_only: bool = False) -> None:
        self.paths = self.METRICS_URL_PATHS if metrics_only else self.PATHS
        self.service = service
        self.server = service.server
        self._livez: dict[str, Check] = {"serializable_read": self._read_check(True)}
        self._readyz: dict[str, Check] = {
            "data_corruption": self._corruption_check,
            "serializable_read": self._read_check(True),
            "linearizable_read": self._read_check(False),
        }

    def serves(self, path: str) -> bool:
        """The five paths, and /livez/<check> and /readyz/<check>."""
        return path in self.paths or path.startswith(("/livez/", "/readyz/"))

    async def answer(self, request: HttpRequest, response: HttpResponse) -> None:
        """Route to the endpoint; every one but /metrics takes GET only, as etcd's."""
        if request.path == "/metrics":
            await self._metrics(response)
        elif request.method != "GET":
            await response.send(
                405, [("Allow", "GET"), TEXT_PLAIN, NOSNIFF], b"Method Not Allowed\n"
            )
        elif request.path == "/health":
            await self._health(request, response)
        elif request.path == "/version":
            body = {"etcdserver": SERVER_VERSION, "etcdcluster": CLUSTER_VERSION}
            await response.send(200, [("Content-Type", "application/json")], _json(body))
        else:
            await self._probe(request, response)

    # -- /metrics -------------------------------------------------------------------------

    async def _metrics(self, response: HttpResponse) -> None:
        text = generate_latest(self.server.metrics.registry)
        await response.send(200, [("Content-Type", CONTENT_TYPE_LATEST)], text)

    # -- /health (etcd 3.4) ---------------------------------------------------------------

    async def _health(self, request: HttpRequest, response: HttpResponse) -> None:
        excluded = set(request.query.get("exclude", []))
        serializable = request.query.get("serializable", [""])[-1] == "true"
        reason = self._alarm_reason(excluded)
        if reason is None and not serializable and self.server.leader_id == 0:
            reason = "RAFT NO LEADER"
        if reason is None:
            failure = await self._read(serializable)
            if failure is not None:
                reason = f"RANGE ERROR:{failure}"
        if reason is None:
            await response.send(200, [TEXT_PLAIN], _json({"health": "true"}))
        else:
            body = {"health": "false", "reason": reason}
            await response.send(503, [TEXT_PLAIN], _json(body))

    def _alarm_reason(self, excluded: set[str]) -> str | None:
        for alarm in self.server.active_alarms():
            if alarm.alarm.name in excluded:
                continue
            if alarm.alarm in (AlarmType.NOSPACE, AlarmType.CORRUPT):
                return f"ALARM {alarm.alarm.name}"
            return "ALARM UNKNOWN"
        return None

    async def _read(self, serializable: bool) -> str | None:
        """Why a read of the health key fails within the request timeout, or None."""
        request = RangeRequest(HEALTH_KEY, keys_only=True, limit=1, serializable=serializable)
        try:
            with trio.fail_after(self.server.request_timeout):
                await self.server.range(request)
        except trio.TooSlowError:
            return errors.Timeout.message
        except errors.EtcdError as error:
            return error.message
        return None

    # -- /livez and /readyz (etcd 3.5) ----------------------------------------------------

    def _read_check(self, serializable: bool) -> Check:
        async def check() -> str | None:
            return await self._read(serializable)

        return check

    async def _corruption_check(self) -> str | None:
        for alarm in self.server.active_alarms():
            if alarm.alarm == AlarmType.CORRUPT:
                return f"alarm activated: {alarm.alarm.name}"
        return None

    async def _probe(self, request: HttpRequest, response: HttpResponse) -> None:
        kind, _, only = request.path.strip("/").partition("/")
        checks = self._livez if kind == "livez" else self._readyz
        if only:
            if only not in checks:
                await send_text(response, 404, "404 page not found")
                return
            checks = {only: checks[only]}
        excluded = set(request.query.get("exclude", []))
        lines, failed = [], False
        for name, check in checks.items():
            if name in excluded:
                lines.append(f"[+]{name} excluded: ok")
                continue
            reason = await check()
            if reason is None:
                lines.append(f"[+]{name} ok")
            else:
                failed = True
                lines.append(f"[-]{name} failed: {reason}")
        path = f"/{kind}"
        if failed:
            await send_text(response, 503, "\n".join([*lines, f"{path} check failed"]))
        elif "verbose" in request.query:
            text = "\n".join([*lines, f"{path} check passed"]) + "\n"
            await response.send(200, [TEXT_PLAIN, NOSNIFF], text.encode())
        else:
            await response.send(200, [TEXT_PLAIN, NOSNIFF], b"ok")


def metrics_door_of(service: Service) -> HttpDoor:
    """What etcd serves on --listen-metrics-urls: /metrics and the health endpoints."""
    return HttpDoor([HealthEndpoints(service, metrics_only=True)])


def _json(body: dict[str, str]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
