"""FakeGitHub's credentials: App JWTs verified with the App's key, installation tokens."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PublicKey = str | bytes | rsa.RSAPublicKey | rsa.RSAPrivateKey
TOKEN_TTL = timedelta(hours=1)
JWT_MAX_LIFETIME = 600  # seconds, exp - iat, GitHub's documented maximum
JWT_SLACK = 30  # for clock drift


@dataclass(frozen=True)
class Caller:
    """Who a request authenticated as: the App (JWT), an installation (token), or neither."""

    kind: str  # "none", "jwt", "token" or "invalid"
    installation_id: int | None = None
    problem: str = ""

    @property
    def bucket(self) -> str:
        if self.kind == "token":
            return f"installation:{self.installation_id}"
        return "app" if self.kind == "jwt" else "anonymous"


def load_public_key(key: PublicKey) -> rsa.RSAPublicKey:
    """Accept the App's public key or, for convenience, its private key (PEM or object)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key
    data = key.encode() if isinstance(key, str) else key
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if isinstance(private, rsa.RSAPrivateKey):
            return private.public_key()
    else:
        public = serialization.load_pem_public_key(data)
        if isinstance(public, rsa.RSAPublicKey):
            return public
    raise TypeError("FakeGitHub needs an RSA key: GitHub Apps sign their JWTs with RS256")


def private_pem(key: PublicKey) -> str | None:
    """The PEM of the App's private key when the fake was given it (or made it)."""
    if isinstance(key, rsa.RSAPrivateKey):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem.decode()
    if isinstance(key, str | bytes) and b"PRIVATE KEY" in (
        key.encode() if isinstance(key, str) else key
    ):
        return key if isinstance(key, str) else key.decode()
    return None


def granted(permissions: dict[str, str], needed: tuple[str, str] | None) -> bool:
    """Whether the App's permissions cover `(name, level)`; else GitHub answers 403."""
    levels = {"read": 1, "write": 2, "admin": 3}
    if needed is None:
        return True
    return levels.get(permissions.get(needed[0], ""), 0) >= levels[needed[1]]


class Credentials:
    """Verifies App JWTs and issues the installation tokens it then accepts."""

    def __init__(self, app_id: str, public_key: PublicKey, time: Callable[[], datetime]) -> None:
        self._app_id = app_id
        self._key = load_public_key(public_key)
        self._time = time  # token expiry follows the fake's time, like the app's cache
        self._tokens: dict[str, tuple[int, datetime]] = {}
        self.private_pem = private_pem(public_key)
        self._codes: dict[str, str] = {}  # manifest code -> webhook secret

    def identify(self, authorization: str | None) -> Caller:
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if not value or scheme.lower() not in ("token", "bearer"):
            return Caller("none")
        if scheme.lower() == "bearer" and value.count(".") == 2:
            problem = self._jwt_problem(value)
            return Caller("invalid", problem=problem) if problem else Caller("jwt")
        found = self._tokens.get(value)
        if found is None or self._time() >= found[1]:
            return Caller("invalid", problem="Bad credentials")
        return Caller("token", installation_id=found[0])

    def _jwt_problem(self, token: str) -> str:
        """GitHub's wording for a refused JWT, or '' when it is good.

        `exp` and `iat` are checked against this stand-in's time, the one its tokens expire
        on: an app under test shares that time function, whatever the machine's date.
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["RS256"],
                options={
                    "require": ["exp", "iat", "iss"],
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError:
            return "A JSON web token could not be decoded"
        now = self._time().timestamp()
        if not isinstance(claims["exp"], int | float) or claims["exp"] <= now:
            return "'Expiration time' claim ('exp') must be a numeric value in the future"
        if not isinstance(claims["iat"], int | float) or claims["iat"] > now + JWT_SLACK:
            return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        if str(claims["iss"]) != self._app_id:
            return f"'Issuer' claim ('iss') {claims['iss']!r} is not this App's ID"
        too_long = claims["exp"] - claims["iat"] > JWT_MAX_LIFETIME + JWT_SLACK
        if too_long or claims["exp"] - now > JWT_MAX_LIFETIME + JWT_SLACK:
            return "'Expiration time' claim ('exp') is too far in the future"
        return ""

    def issue(self, installation_id: int) -> tuple[str, datetime]:
        alphabet = string.ascii_letters + string.digits
        token = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        expires = self._time().replace(microsecond=0) + TOKEN_TTL
        self._tokens[token] = (installation_id, expires)
        return token, expires

    def grant(self, installation_id: int, token: str, expires: datetime | None = None) -> None:
        until = expires or self._time().replace(microsecond=0) + TOKEN_TTL
        self._tokens[token] = (installation_id, until)

    def expire(self, installation_id: int | None = None) -> None:
        for token, (owner, _) in list(self._tokens.items()):
            if installation_id is None or owner == installation_id:
                del self._tokens[token]

    def manifest_code(self, webhook_secret: str) -> str:
        if self.private_pem is None:
            raise ValueError("a manifest conversion returns the App's private key: pass it")
        code = secrets.token_hex(10)
        self._codes[code] = webhook_secret
        return code

    def redeem(self, code: str) -> tuple[str, str] | None:
        """(webhook secret, private key PEM) for a code not used before."""
        secret = self._codes.pop(code, None)
        return None if secret is None or self.private_pem is None else (secret, self.private_pem)
