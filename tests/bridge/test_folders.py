"""Where LatentVJ keeps the user's files, on every platform."""

import sys
from pathlib import Path

import pytest

from latentvj.bridge.folders import default_config_dir, default_presets_path


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("LATENTVJ_CONFIG", "APPDATA", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    return tmp_path / "home"


def test_latentvj_config_overrides_every_platform(home, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTVJ_CONFIG", str(tmp_path / "mine"))
    for platform in ("linux", "darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert default_config_dir() == tmp_path / "mine"
        assert default_presets_path() == tmp_path / "mine" / "presets.json"


def test_windows_uses_appdata(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    assert default_config_dir() == home / "AppData" / "Roaming" / "LatentVJ"
    monkeypatch.delenv("APPDATA")
    assert default_config_dir() == Path.home() / "AppData" / "Roaming" / "LatentVJ"


def test_macos_uses_application_support(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))  # not used on macOS
    assert default_config_dir() == home / "Library" / "Application Support" / "LatentVJ"


def test_linux_follows_xdg(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_config_dir() == home / ".config" / "latentvj"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    assert default_presets_path() == home / "xdg" / "latentvj" / "presets.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # invalid by the XDG spec: ignored
    assert default_config_dir() == home / ".config" / "latentvj"
