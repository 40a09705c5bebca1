"""Shared helpers for engine rows: Camunda-style string ids."""
import os
import secrets
import threading
import time
import uuid

ID_LENGTH = 64

_SEQ_BITS = 74  # UUIDv7's rand_a (12 bits) and rand_b (62 bits), used as one counter
_lock = threading.Lock()
_last = {"ms": 0, "seq": 0}


def _forget_after_fork() -> None:
    # A forked worker must not continue its parent's counter: both would make the same next id.
    _last["ms"], _last["seq"] = 0, 0


os.register_at_fork(after_in_child=_forget_after_fork)


def new_id() -> str:
    """A time-ordered id (UUID version 7, RFC 9562): a millisecond timestamp, then a counter.

    Rows created together get neighbouring ids, so they sit on neighbouring index pages, as with
    Camunda's sequential id blocks. A batch works off its targets in id order, so each chunk
    rewrites a few pages instead of touching pages all over every index (bench/: 100k
    cancellation). Within a process ids strictly increase; across processes the counter starts at
    a random point each millisecond, so ids stay unique without coordination.
    """
    with _lock:
        ms = max(time.time_ns() // 1_000_000, _last["ms"])
        if ms > _last["ms"]:
            seq = secrets.randbits(_SEQ_BITS - 1)  # leaves room to count up within the millisecond
        else:
            seq = _last["seq"] + 1
            if seq >> _SEQ_BITS:
                ms, seq = ms + 1, secrets.randbits(_SEQ_BITS - 1)
        _last["ms"], _last["seq"] = ms, seq
    value = (ms << 80) | (0x7 << 76) | ((seq >> 62) << 64) | (0b10 << 62) | (seq & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


_LOW_62 = (1 << 62) - 1


def new_ids(count: int) -> list[str]:
    """count new ids at once, as count calls of new_id would make them (one lock, one clock read,
    no UUID objects): the demo loader's million instances need a dozen ids each."""
    if count <= 0:
        return []
    with _lock:
        ms = max(time.time_ns() // 1_000_000, _last["ms"])
        seq = secrets.randbits(_SEQ_BITS - 1) if ms > _last["ms"] else _last["seq"] + 1
        if (seq + count) >> _SEQ_BITS:
            ms, seq = ms + 1, secrets.randbits(_SEQ_BITS - 1)
        _last["ms"], _last["seq"] = ms, seq + count - 1
    ids = []
    prefixes: dict[int, str] = {}
    for s in range(seq, seq + count):
        rand_a = s >> 62  # the same for the whole block but where it crosses a 2**62 boundary
        prefix = prefixes.get(rand_a)
        if prefix is None:
            h = f"{(ms << 16) | (0x7 << 12) | rand_a:016x}"
            prefix = prefixes[rand_a] = f"{h[:8]}-{h[8:12]}-{h[12:]}-"
        low = f"{(0b10 << 62) | (s & _LOW_62):016x}"
        ids.append(f"{prefix}{low[:4]}-{low[4:]}")
    return ids
