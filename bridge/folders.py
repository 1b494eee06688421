"""Where LatentVJ keeps the user's files: the config folder (presets, models, images), per platform."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_config_dir() -> Path:
    """Where LatentVJ keeps the user's files (presets, model folder).

    ``$LATENTVJ_CONFIG`` when set; else ``%APPDATA%\\LatentVJ`` on Windows, ``~/Library/Application
    Support/LatentVJ`` on macOS, and ``$XDG_CONFIG_HOME/latentvj`` or ``~/.config/latentvj`` elsewhere.
    """
    override = os.environ.get("LATENTVJ_CONFIG")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return (Path(appdata) if appdata else Path.home() / "AppData" / "Roaming") / "LatentVJ"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "LatentVJ"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    # The XDG spec: a relative XDG_CONFIG_HOME is invalid and is ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "latentvj"
    return Path.home() / ".config" / "latentvj"


def default_presets_path() -> Path:
    """``default_config_dir() / "presets.json"``."""
    return default_config_dir() / "presets.json"
