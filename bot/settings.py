"""The bot's settings, from the environment or a ``.env`` file (pydantic-settings).

Secrets are ``SecretStr``: they never show in a repr, a log line or an error message.
A surface (Slack, Discord) runs only when its tokens are set; :meth:`Settings.surfaces`
says which will run and, for the others, why not.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # xapp-…: Socket Mode instead of HTTP
    slack_api_url: str = "https://slack.com/api/"
    cyberops_slack_channel: str | None = None  # where new incidents are posted
    cyberops_approvers: str = ""  # comma-separated Slack user ids

    # Discord
    discord_token: SecretStr | None = None
    cyberops_discord_channel: int | None = None
    cyberops_discord_approver_role: str = "cyberops-approver"
    discord_api_url: str | None = None  # REST base URL override (tests)

    # the bot
    cyberops_db: str = "cyberops.db"
    cyberops_scenario: str = "demo"
    cyberops_inventory: str = ""  # comma-separated inventory exports; imported at start, they replace the scenario
    cyberops_port: int = Field(3000, ge=1, le=65535)
    cyberops_host: str = "0.0.0.0"
    cyberops_tick_seconds: float = Field(0.0, ge=0.0)
    cyberops_confirm_timeout: float = Field(1800.0, gt=0.0)
    cyberops_tz: str = "UTC"

    # action dispatch (bot/executors.py; README "Action dispatch")
    cyberops_executor: Literal["simulate", "webhook", "command"] = "simulate"
    cyberops_executor_url: str | None = None
    cyberops_executor_secret: SecretStr | None = None
    cyberops_executor_command: str | None = None  # program + fixed args, shlex-split, run without a shell
    cyberops_executor_timeout: float = Field(10.0, gt=0.0)  # seconds per attempt / per run
    cyberops_executor_retries: int = Field(3, ge=0, le=10)  # webhook retries after the first attempt

    # alert ingestion and metrics (bot/alerts.py, bot/http_app.py; README "Alerts and metrics")
    cyberops_alert_token: SecretStr | None = None  # bearer token for POST /alerts*; unset: those endpoints are off
    cyberops_alert_max_bytes: int = Field(256_000, ge=1024)  # largest alert body read

    @field_validator("cyberops_approvers")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(self.cyberops_approvers.split(",")) - {""}

    def surfaces(self) -> dict[str, str | None]:
        """Each surface (and ``alerts``, the alert endpoints): None when it will run, else the reason it won't."""
        slack = None
        if not self.slack_bot_token:
            slack = "SLACK_BOT_TOKEN is not set"
        elif not self.slack_app_token and not self.slack_signing_secret:
            slack = "SLACK_SIGNING_SECRET is not set (needed for HTTP mode; or set SLACK_APP_TOKEN for Socket Mode)"
        elif not self.cyberops_slack_channel:
            slack = "CYBEROPS_SLACK_CHANNEL is not set (the channel for incidents)"
        discord = None
        if not self.discord_token:
            discord = "DISCORD_TOKEN is not set"
        elif not self.cyberops_discord_channel:
            discord = "CYBEROPS_DISCORD_CHANNEL is not set (the channel for incidents)"
        alerts = None if self.alert_token else "CYBEROPS_ALERT_TOKEN is not set (POST /alerts is off)"
        return {"slack": slack, "discord": discord, "alerts": alerts}

    @property
    def alert_token(self) -> str | None:
        """The alert endpoints' bearer token; None when unset or empty (the endpoints are off)."""
        return self.cyberops_alert_token.get_secret_value() if self.cyberops_alert_token else None

    def secrets(self) -> list[str]:
        """Every secret value set, so tests and log filters can check none leaks."""
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.discord_token,
                  self.cyberops_executor_secret, self.cyberops_alert_token)
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
