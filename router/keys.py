"""Every Redis key and channel the router uses, in one place.

All keys of one company carry the hash tag `{<prefix>:c:<company_id>}`, so a company's
state lives on one Redis Cluster slot and its Lua scripts may touch all of it. The type is
the name's suffix; units are spelled out (`_ms`).
"""

from __future__ import annotations


def company_tag(prefix: str, company_id: int) -> str:
    return f"{{{prefix}:c:{company_id}}}"


def offers_hash(prefix: str, company_id: int) -> str:
    """Field: company user id; value: JSON `{query_id: [queue_id, level]}`."""
    return f"{company_tag(prefix, company_id)}:offers_hash"


def offered_since_ms_hash(prefix: str, company_id: int) -> str:
    """Field: company user id; value: when its current run of outstanding offers began."""
    return f"{company_tag(prefix, company_id)}:offered_since_ms_hash"


def waiting_created_ms_zset(prefix: str, company_id: int) -> str:
    """Member: waiting query id; score: its creation time in milliseconds."""
    return f"{company_tag(prefix, company_id)}:waiting_created_ms_zset"


def waiting_queue_hash(prefix: str, company_id: int) -> str:
    """Field: waiting query id; value: the queue it waits on."""
    return f"{company_tag(prefix, company_id)}:waiting_queue_hash"


def ready_set(prefix: str, company_id: int) -> str:
    """Members: the company users that are ready now."""
    return f"{company_tag(prefix, company_id)}:ready_set"


def version_int(prefix: str, company_id: int) -> str:
    """Bumped by each committed recomputation; guards against a stale writer."""
    return f"{company_tag(prefix, company_id)}:version_int"


def lock_str(prefix: str, company_id: int) -> str:
    """Held while one process recomputes the company's offers."""
    return f"{company_tag(prefix, company_id)}:lock_str"


def connections_set(prefix: str, company_id: int, company_user_id: int) -> str:
    """Members: `<process>:<connection>` of the company user's open websockets."""
    return f"{company_tag(prefix, company_id)}:cu:{company_user_id}:connections_set"


def process_connections_hash(prefix: str, process_id: str) -> str:
    """Field: `<process>:<connection>` of a websocket the process holds; value:
    `<company>:<company user>`, so that a sweep finds what a dead process left behind."""
    return f"{{{prefix}:p:{process_id}}}:connections_hash"


def processes_heartbeat_ms_zset(prefix: str) -> str:
    """Member: a server process id; score: its last heartbeat in Redis server milliseconds."""
    return f"{{{prefix}:processes}}:heartbeat_ms_zset"


def timers_due_ms_zset(prefix: str) -> str:
    """Member: a timer name (`company:1`, `idle:1:7`, ...); score: when it is due."""
    return f"{{{prefix}:timers}}:due_ms_zset"


def built_sentinel_str(prefix: str) -> str:
    """Present once the routing state was rebuilt; gone after Redis restarts or is flushed."""
    return f"{{{prefix}:meta}}:built_sentinel_str"


def events_channel(prefix: str) -> str:
    return f"{prefix}:events"
