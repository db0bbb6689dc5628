"""The bot's settings, from the environment or a ``.env`` file (pydantic-settings).

Secrets are ``SecretStr``: they never show in a repr, a log line or an error message.
A surface (Slack, Discord) runs only when its tokens are set; :meth:`Settings.surfaces`
says which will run and, for the others, why not.
"""

from __future__ import annotations

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
    cyberops_port: int = Field(3000, ge=1, le=65535)
    cyberops_host: str = "0.0.0.0"
    cyberops_tick_seconds: float = Field(0.0, ge=0.0)
    cyberops_confirm_timeout: float = Field(1800.0, gt=0.0)
    cyberops_tz: str = "UTC"

    @field_validator("cyberops_approvers")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(self.cyberops_approvers.split(",")) - {""}

    def surfaces(self) -> dict[str, str | None]:
        """Each surface: None when it will run, else the reason it won't."""
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
        return {"slack": slack, "discord": discord}

    def secrets(self) -> list[str]:
        """Every secret value set, so tests and log filters can check none leaks."""
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.discord_token)
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
