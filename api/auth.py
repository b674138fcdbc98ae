"""API keys and roles, and the per-key rate limit.

A key is presented as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Keys are compared in
constant time and never logged: logs and metrics name a key by `key_id`, a short hash of it.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from qa.errors import InvalidArgument
from qa.settings import Settings

from .errors import (
    Forbidden,
    MalformedAuthorization,
    MissingKey,
    RateLimited,
    Unauthorized,
)

log = logging.getLogger(__name__)

ROLES = ("reader", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: `role` is reader or admin; `key_id` is None for an anonymous reader."""

    role: str
    key_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def key_id(key: str) -> str:
    return "k-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def parse_keys(text: str, where: str, comments: bool = False) -> list[tuple[str, str]]:
    """`role:key` pairs, separated by commas or newlines; with `comments` (a keys file), `#` starts one."""
    pairs = []
    for part in text.replace("\n", ",").split(","):
        part = (part.split("#", 1)[0] if comments else part).strip()
        if not part:
            continue
        role, sep, key = part.partition(":")
        role, key = role.strip(), key.strip()
        if not sep or role not in ROLES or not key:
            # The bad entry is not echoed: it may hold a key.
            raise InvalidArgument(f"{where} 中有一项不是“角色:密钥”格式（角色为 reader 或 admin）")
        pairs.append((role, key))
    return pairs


class KeyRing:
    """The configured keys, checked in constant time against whatever a request presents."""

    def __init__(self, pairs: list[tuple[str, str]], allow_anonymous_read: bool):
        self._keys = [(role, key.encode()) for role, key in pairs]
        self.allow_anonymous_read = allow_anonymous_read

    @property
    def configured(self) -> bool:
        """Whether any key exists: with none and anonymous reading off, every request is refused."""
        return bool(self._keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        pairs = parse_keys(settings.api_keys, "QA_API_KEYS")
        if settings.api_keys_file:
            path = Path(settings.api_keys_file)
            if not path.is_file():
                raise InvalidArgument(f"密钥文件 {path} 不存在")
            pairs += parse_keys(path.read_text(encoding="utf-8"), f"密钥文件 {path}", comments=True)
        ring = cls(pairs, settings.allow_anonymous_read)
        log.info("API keys: %d admin, %d reader; anonymous reading %s",
                 sum(r == "admin" for r, _ in pairs), sum(r == "reader" for r, _ in pairs),
                 "allowed" if settings.allow_anonymous_read else "refused")
        return ring

    def identify(self, presented: str | None) -> Principal:
        if not presented:
            if self.allow_anonymous_read:
                return Principal("reader", None)
            raise MissingKey("需要 API 密钥：请在请求头 X-API-Key 或 Authorization: Bearer 中提供")
        given = presented.encode()
        role = None
        for r, key in self._keys:  # every key is compared, so timing tells nothing about which matched
            if hmac.compare_digest(given, key):
                role = r
        if role is None:
            raise Unauthorized("API 密钥无效")
        return Principal(role, key_id(presented))


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise MalformedAuthorization("Authorization 请求头应为“Bearer <密钥>”")
    return None


def require_admin(who: Principal) -> Principal:
    if not who.is_admin:
        raise Forbidden("此操作需要管理员（admin）密钥")
    return who


class RateLimiter:
    """A moving one-minute window per key (per client address for anonymous readers, and for
    wrong keys)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute) if per_minute else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, who: str, what: str = "请求过于频繁") -> None:
        """Count one event for `who`; refuse it (429) past the limit."""
        if self._item is None:
            return
        if not self._limiter.hit(self._item, who):
            retry = self._retry_after(who)
            raise RateLimited(f"{what}：每分钟最多 {self.per_minute} 次，请 {retry} 秒后再试", retry)

    def exhausted(self, who: str) -> int:
        """Seconds until `who` may act again, 0 when the window still has room (counts nothing)."""
        if self._item is None or self._limiter.test(self._item, who):
            return 0
        return self._retry_after(who)

    def _retry_after(self, who: str) -> int:
        reset, _ = self._limiter.get_window_stats(self._item, who)
        return max(1, int(reset - time.time()) + 1)
