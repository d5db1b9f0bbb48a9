"""The finance console's session: a signed token in an HttpOnly cookie, and the forms' CSRF tokens.

A key is entered once, at login; the cookie then holds only the key's public id, a
random session id and the instants it was issued and expires, signed with
HMAC-SHA256 under the console's secret. Never the key itself. Every gateway process
that reads the same secret accepts the same cookie, so a session survives being
served by another worker. Each request still looks the key up, so a revoked key (or
one no longer finance) ends its sessions at once.

CSRF: a form carries a token that is the MAC of the session id (or, before login, of
a random nonce held in its own cookie); a cross-site page can neither read the
cookie nor compute the MAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

SESSION_MAX_S = 8 * 3600  # a working day; the cookie itself lasts as long as the browser session
SECRET_BYTES_MIN = 32
TOKEN_VERSION = "v1"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")


@dataclass(frozen=True)
class ConsoleSession:
    key_id: str
    session_id: str
    issued_at: int
    expires_at: int


class SessionSigner:
    """Issues and checks session tokens and CSRF tokens under one secret."""

    def __init__(self, secret: bytes) -> None:
        assert len(secret) >= SECRET_BYTES_MIN, "the console's secret is at least 256 bits"
        self._secret = secret

    def _mac(self, purpose: str, message: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}|{message}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, key_id: str, now: int, max_s: int = SESSION_MAX_S) -> tuple[str, ConsoleSession]:
        assert _KEY_ID.fullmatch(key_id), "a verified key's id"
        session = ConsoleSession(key_id, secrets.token_hex(16), now, now + max_s)
        payload = json.dumps(
            {
                "kid": session.key_id,
                "sid": session.session_id,
                "iat": session.issued_at,
                "exp": session.expires_at,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
        return f"{TOKEN_VERSION}.{body}.{self._mac('session', body)}", session

    def read(self, token: str | None, now: int) -> ConsoleSession | None:
        """The session a token carries, or None when it is absent, forged, malformed or expired."""
        if not token or len(token) > 512:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            return None
        _, body, mac = parts
        if not hmac.compare_digest(mac.encode(), self._mac("session", body).encode()):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = ConsoleSession(
                str(fields["kid"]), str(fields["sid"]), int(fields["iat"]), int(fields["exp"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if not (_KEY_ID.fullmatch(session.key_id) and _SESSION_ID.fullmatch(session.session_id)):
            return None
        if not session.issued_at <= now < session.expires_at:
            return None
        return session

    # -- CSRF ----------------------------------------------------------------------
    def csrf_for_session(self, session: ConsoleSession) -> str:
        return self._mac("csrf", session.session_id)

    def csrf_for_login(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def check_session_csrf(self, session: ConsoleSession, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_for_session(session).encode())

    def check_login_csrf(self, nonce: str | None, presented: str | None) -> bool:
        if not nonce or not presented or not _NONCE.fullmatch(nonce):
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_for_login(nonce).encode())


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
