"""Retrying a call to a remote system with exponential backoff (rate limits, brief outages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How often and how patiently to retry. Attempt ``n`` (from 0) waits
    ``min(cap, base * 2**n)`` seconds, or longer when the server asked (``Retry-After``)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(6, ge=1, description="tries in all, the first included")
    base_seconds: float = Field(1.0, ge=0, description="first backoff delay")
    cap_seconds: float = Field(60.0, ge=0, description="longest delay between two tries")

    def delay(self, attempt: int, asked: float | None = None) -> float:
        wait = min(self.cap_seconds, self.base_seconds * (2 ** attempt))
        return max(wait, min(asked, self.cap_seconds)) if asked else wait


def with_retries(call: Callable[[], T], policy: RetryPolicy,
                 retry_after: Callable[[BaseException], float | None | bool],
                 on_retry: Callable[[BaseException, float], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``; when it raises an error that ``retry_after`` accepts (it returns True, or
    the seconds the server asked to wait), wait and try again, up to ``policy.attempts``
    tries in all. The last error is raised as it is."""
    for attempt in range(policy.attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified by retry_after
            asked = retry_after(exc)
            if asked is None or asked is False or attempt == policy.attempts - 1:
                raise
            wait = policy.delay(attempt, None if asked is True else float(asked))
            if on_retry is not None:
                on_retry(exc, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
