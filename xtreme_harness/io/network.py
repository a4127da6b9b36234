"""Whether the Hugging Face hub can be reached at all, asked once and fast.

Downloads from an unreachable hub retry for half a minute and end in a
traceback deep in the hub libraries; one TCP connection attempt tells in
at most a few seconds, so a command can say at once what to do instead.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import urlparse


@lru_cache(maxsize=8)
def hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a connection (else every download would retry for half a minute)."""
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout):
            return True
    except OSError:
        return False
