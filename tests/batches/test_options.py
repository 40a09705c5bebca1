"""Our creation options beside Camunda's payload: each bad value is a 400 naming its field."""
from datetime import time

import pytest

from batches.options import parse_options, strip_options
from engine.errors import BadUserRequest


def test_all_options_parse_and_round_trip():
    options = parse_options({
        "reason": " outage INC-42 ",
        "maxItemsPerSecond": 25,
        "notBefore": "2026-11-25T22:00:00.000+0100",
        "window": {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"},
        "webhookUrl": "https://hooks.example.test/batches",
    })
    assert options.reason == "outage INC-42"
    assert options.max_items_per_second == 25.0
    assert (options.window_start, options.window_end, options.window_time_zone) == (time(22), time(5), "Europe/Berlin")
    assert options.as_json() == {
        "reason": "outage INC-42",
        "maxItemsPerSecond": 25.0,
        "notBefore": "2026-11-25T21:00:00.000+0000",
        "window": {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"},
        "webhookUrl": "https://hooks.example.test/batches",
    }


def test_no_options_is_no_change():
    assert parse_options({"processInstanceIds": ["a"]}).as_json() == {}
    assert strip_options({"processInstanceIds": ["a"], "reason": "x", "window": None}) == {"processInstanceIds": ["a"]}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"reason": 5}, "reason:"),
        ({"reason": "x" * 4001}, "reason:"),
        ({"maxItemsPerSecond": 0}, "maxItemsPerSecond:"),
        ({"maxItemsPerSecond": -1}, "maxItemsPerSecond:"),
        ({"maxItemsPerSecond": "10"}, "maxItemsPerSecond:"),
        ({"maxItemsPerSecond": True}, "maxItemsPerSecond:"),
        ({"notBefore": "tomorrow"}, "notBefore:"),
        ({"notBefore": 17}, "notBefore:"),
        ({"window": "22-05"}, "window:"),
        ({"window": {"start": "24:00", "end": "05:00"}}, "window.start:"),
        ({"window": {"start": "22:00"}}, "window.end:"),
        ({"window": {"start": "22:00", "end": "05:00", "timeZone": "Mars/Olympus"}}, "window.timeZone:"),
        ({"window": {"start": "22:00", "end": "05:00", "zone": "UTC"}}, "window: unknown"),
        ({"webhookUrl": "ftp://example.test/x"}, "webhookUrl:"),
        ({"webhookUrl": "https://user:pw@example.test/x"}, "webhookUrl:"),
        ({"webhookUrl": "https:///nohost"}, "webhookUrl:"),
    ],
)
def test_a_bad_option_is_refused_naming_its_field(payload, field):
    with pytest.raises(BadUserRequest) as caught:
        parse_options(payload)
    assert str(caught.value).startswith(field)
