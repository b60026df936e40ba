"""What ``edge platform serve|export|csource`` need from the platform config: the database and the
``[ngsi]`` section (central/ngsi/section.py), as a ServeConfig."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from central.ngsi.api import Options
from central.ngsi.server import ServeConfig, split_bind


class SettingsError(ValueError):
    """A config file that cannot be used: one line for the user."""


@dataclass
class Settings:
    serve: ServeConfig
    timezone: str


def load(path: str | Path, bind: str | None = None) -> Settings:
    """The platform config at ``path``; ``bind`` overrides [ngsi] bind."""
    from central import config

    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        raise SettingsError(str(e)) from None
    n = cfg.ngsi
    serve = ServeConfig(
        dsn=cfg.database.dsn,
        bind=bind or n.bind,
        allow_remote=n.allow_remote,
        token=n.token or None,
        options=Options(frozenset(n.bicycle_counters)),
    )
    try:
        split_bind(serve.bind, serve.allow_remote)
    except ValueError as e:
        raise SettingsError(str(e)) from None
    return Settings(serve=serve, timezone=n.timezone)
