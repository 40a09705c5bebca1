"""The supervisor's stop of a node: nothing it sends to the broker afterwards goes to the dead node."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from django.conf import settings

from engine.supervisor import Supervisor, _Child, _group_running
from tests.support.cluster import wait_for

# A node's main process and, in its process group, a child blocked in BLPOP like q2's pusher.
NODE = textwrap.dedent(
    """
    import os, sys, time, redis
    url, key = sys.argv[1], sys.argv[2]
    if os.fork() == 0:
        client = redis.Redis.from_url(url)
        client.client_setname(key)
        while True:
            client.blpop(key, 1)
    while True:
        time.sleep(1)
    """
)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis broker's blocking pop")
@pytest.mark.parametrize("attempt", range(5))
def test_a_task_sent_after_a_node_is_stopped_is_not_taken_by_its_dying_pusher(attempt, tmp_path):
    import redis

    url, key = os.environ["REDIS_URL"], f"cockpit-test-supervisor-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(url)
    process = subprocess.Popen([sys.executable, "-c", NODE, url, key], start_new_session=True)

    def blocked() -> bool:
        return any(c["name"] == key and c["cmd"] == "blpop" for c in client.client_list())

    try:
        wait_for(blocked, timeout=30, message="the node's pusher to block on the broker")
        read, write = os.pipe()
        os.close(read)
        supervisor = Supervisor(stall=settings.ENGINE["WORKER_STALL_SECONDS"], report=tmp_path / "node.json")
        supervisor._end(_Child(process=process, lifeline=write, started=time.monotonic()), graceful=False)
        assert not _group_running(process.pid)
        client.rpush(key, "wake-up")
        time.sleep(0.2)
        assert client.llen(key) == 1, "the dying pusher took the task"
    finally:
        client.delete(key)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_group_running_sees_a_live_group_and_not_a_gone_one():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert _group_running(process.pid)
    process.kill()
    process.wait()
    assert not _group_running(process.pid)
