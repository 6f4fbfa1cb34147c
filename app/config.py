"""Settings: one typed object built from the environment (the external contract's names)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values people paste from docs and templates; refused so that a half-configured
# deployment fails at start-up, not at the first delivery.
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "xxx", "todo", "your-secret", "placeholder", "..."}
)

# A webhook secret shorter than this is refused: it is all that keeps forged deliveries out.
# GitHub advises "a random string with high entropy" (docs: validating webhook deliveries):
# 16 characters are asked for; below 12 sla-bot refuses to start, 12 to 15 it warns (the
# side-by-side load harness, shared/perf, signs with 13: "perf-" and 8 hex digits).
ADVISED_WEBHOOK_SECRET, MIN_WEBHOOK_SECRET = 16, 12


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value."""


class Settings(BaseSettings):
    """Everything sla-bot reads from the environment."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    github_app_id: str | None = None
    github_private_key: SecretStr | None = None
    github_private_key_path: Path | None = None
    github_webhook_secret: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_signing_secret: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_webhook_secret: SecretStr | None = None
    pagerduty_timeout: float = Field(default=10.0, gt=0)  # seconds an event may take in all
    database_url: str = "sqlite:///sla-bot.db"
    # The status-meeting board (/board): GitHub sign-in with the App's OAuth credentials.
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    sla_public_url: str | None = None  # what callers use: OAuth's redirect URL is built on it
    # The escalation number: validates X-Twilio-Signature (phone line off when unset).
    twilio_auth_token: SecretStr | None = None
    sla_policy_file: Path | None = None
    sla_sweep_interval: float = Field(default=60.0, ge=0)
    # How long a claim lasts without a heartbeat (renewed every third of it while work is in
    # hand): a crashed replica's claims are taken over within this many seconds.
    sla_lease_seconds: float = Field(default=15.0, gt=0)
    # Content-creating GitHub writes (comments, new labels) per minute per installation, and
    # at most 500 an hour; GitHub's secondary limits. 0: unpaced (benchmarks).
    sla_github_write_rate: int = Field(default=80, ge=0)
    sla_redeliver_interval: float = Field(default=600.0, ge=0)
    # How long `serve` waits for a database that is not up yet (containers start together).
    sla_store_wait: float = Field(default=60.0, ge=0)
    sla_reconcile_interval: float = Field(default=21600.0, ge=0)
    # Processed deliveries and sent or dead effects older than this are deleted; 0 keeps them.
    sla_retention_days: int = Field(default=30, ge=0)
    # Where `serve` runs its worker: a process of its own (each gets a core), in the server's
    # process, or `auto`: a process of its own on PostgreSQL when it may use more than one CPU.
    sla_worker: Literal["auto", "process", "inline"] = "auto"
    # When routine processing steps aside for the receiver in the same process (GitHub fails
    # a delivery not answered within 10 s): this many deliveries being read or stored at once,
    # or the event loop this many seconds late; for SLA_YIELD_MOST seconds at most.
    sla_yield_in_flight: int = Field(default=8, ge=1)
    sla_yield_lag: float = Field(default=0.05, gt=0)
    sla_yield_most: float = Field(default=5.0, ge=0)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("github_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_store(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("use sqlite:///path.db or postgresql://user:pass@host/db")
        return value

    def webhook_secret(self) -> str:
        """The webhook secret, or ConfigError naming the variable."""
        secret = _require(self.github_webhook_secret, "GITHUB_WEBHOOK_SECRET")
        advice = (
            f"use at least {ADVISED_WEBHOOK_SECRET} random characters (python3 -c 'import "
            "secrets; print(secrets.token_hex(32))'), and the same on the App's settings page"
        )
        if len(secret.strip()) < MIN_WEBHOOK_SECRET:
            raise ConfigError(f"GITHUB_WEBHOOK_SECRET is too short: {advice}")
        if len(secret.strip()) < ADVISED_WEBHOOK_SECRET:
            _warn_once(f"GITHUB_WEBHOOK_SECRET is weak: {advice}")
        return secret

    def private_key(self) -> str:
        """The App's PEM key from GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH."""
        if self.github_private_key is not None:
            key = _require(self.github_private_key, "GITHUB_PRIVATE_KEY").replace("\\n", "\n")
        elif self.github_private_key_path is not None:
            try:
                key = self.github_private_key_path.read_text()
            except OSError as exc:
                raise ConfigError(
                    f"GITHUB_PRIVATE_KEY_PATH: cannot read the key file ({exc.strerror})"
                ) from None
        else:
            raise ConfigError(
                "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required to act on GitHub"
            )
        if "-----BEGIN" not in key or "PRIVATE KEY-----" not in key:
            raise ConfigError(
                "GITHUB_PRIVATE_KEY: not a PEM private key "
                "(expected '-----BEGIN ... PRIVATE KEY-----')"
            )
        return key

    def app_id(self) -> str:
        """The App id, or ConfigError."""
        if not self.github_app_id:
            raise ConfigError("GITHUB_APP_ID is required to act on GitHub")
        if not self.github_app_id.isdigit():
            raise ConfigError("GITHUB_APP_ID must be the App's numeric id")
        return self.github_app_id

    def github_configured(self) -> bool:
        return bool(self.github_app_id) and (
            self.github_private_key is not None or self.github_private_key_path is not None
        )

    def signing_secret(self) -> str | None:
        """Slack's signing secret: the page's buttons work only with it."""
        if self.slack_signing_secret is None:
            return None
        return _require(self.slack_signing_secret, "SLACK_SIGNING_SECRET")

    def routing_key(self) -> str | None:
        """The PagerDuty Events API v2 integration key, when PagerDuty is used."""
        if self.pagerduty_routing_key is None:
            return None
        return _require(self.pagerduty_routing_key, "PAGERDUTY_ROUTING_KEY")

    def pagerduty_secret(self) -> str | None:
        """Verifies inbound PagerDuty V3 webhooks (acknowledge and resolve from PagerDuty)."""
        if self.pagerduty_webhook_secret is None:
            return None
        return _require(self.pagerduty_webhook_secret, "PAGERDUTY_WEBHOOK_SECRET")

    def twilio_token(self) -> str | None:
        """Twilio's auth token: the escalation number's webhooks are validated with it."""
        if self.twilio_auth_token is None:
            return None
        return _require(self.twilio_auth_token, "TWILIO_AUTH_TOKEN")

    def board(self) -> tuple[str, str, str] | None:
        """The board's client id, client secret and public URL; None (board off) unless all
        three are set."""
        if not (self.github_client_id and self.github_client_secret and self.sla_public_url):
            return None
        secret = _require(self.github_client_secret, "GITHUB_CLIENT_SECRET")
        url = self.sla_public_url.rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError("SLA_PUBLIC_URL must be the public https:// URL of sla-bot")
        return self.github_client_id, secret, url

    def github_web_url(self) -> str:
        """Where people sign in to GitHub: github.com for the public API, the server itself
        for GitHub Enterprise Server (…/api/v3), else the API's own base (stand-ins)."""
        api = self.github_api_url
        if api == "https://api.github.com":
            return "https://github.com"
        return api.removesuffix("/api/v3")

    def slack_token(self) -> str | None:
        if self.slack_bot_token is None:
            return None
        return _require(self.slack_bot_token, "SLACK_BOT_TOKEN")


def _require(value: SecretStr | None, name: str) -> str:
    if value is None or not value.get_secret_value().strip():
        raise ConfigError(f"{name} is required")
    secret = value.get_secret_value()
    if secret.strip().lower() in PLACEHOLDERS:
        raise ConfigError(f"{name} is a placeholder value; set the real secret")
    return secret


@functools.cache
def _warn_once(message: str) -> None:
    logging.getLogger(__name__).warning(message)
