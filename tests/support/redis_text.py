"""Everything stored under a key prefix, as text: tests search it for secrets in clear."""

from __future__ import annotations

import json


def everything_stored(redis, key_prefix: str) -> str:
    """Every key and value under the prefix, read by type (DUMP may compress, hiding text)."""
    readers = {
        "string": redis.get,
        "hash": redis.hgetall,
        "set": redis.smembers,
        "list": lambda key: redis.lrange(key, 0, -1),
        "zset": lambda key: redis.zrange(key, 0, -1),
        "stream": redis.xrange,
        "none": lambda key: None,
    }  # gone since the scan (a lock released, say)
    return "\n".join(
        json.dumps([key, readers[redis.type(key)](key)], ensure_ascii=False, default=sorted)
        for key in redis.scan_iter(match=f"{key_prefix}:*", count=1000)
    )
