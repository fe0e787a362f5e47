"""The gateway's reports of held requests, as the operator reads them from a VoxtralService's
annotations (api/held.py): one key per gateway replica, stale reports ignored."""

from __future__ import annotations

import datetime
import json

from voxtral_operator.api.held import FRESH_SECONDS, PREFIX, Held, held

NOW = datetime.datetime(2026, 11, 30, 10, 0, 0, tzinfo=datetime.UTC).timestamp()


def at(seconds_ago: float) -> str:
    moment = datetime.datetime.fromtimestamp(NOW - seconds_ago, datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def report(count: object, since: float, reported_ago: float) -> str:
    return json.dumps({"held": count, "since": at(since), "at": at(reported_ago)})


def test_reports_of_every_gateway_replica_add_up() -> None:
    annotations = {
        f"{PREFIX}voxtral-gateway-7d9f-abcde": report(2, since=8.0, reported_ago=1.0),
        f"{PREFIX}voxtral-gateway-7d9f-fghij": report(1, since=3.0, reported_ago=0.5),
        "voxtral.dev/spec-hash": "x",
    }
    assert held(annotations, NOW) == Held(3, NOW - 8.0)


def test_stale_and_unreadable_reports_count_for_nothing() -> None:
    annotations = {
        f"{PREFIX}gone": report(5, since=100.0, reported_ago=FRESH_SECONDS + 1),  # pod died
        f"{PREFIX}garbled": "{not json",
        f"{PREFIX}negative": report(-1, since=1.0, reported_ago=1.0),
        f"{PREFIX}text": report("4", since=1.0, reported_ago=1.0),
        f"{PREFIX}no-time": json.dumps({"held": 2}),
    }
    assert held(annotations, NOW) == Held(0, None)
