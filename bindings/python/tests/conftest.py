"""Shared fixtures of the binding's own tests (the public ones come from provisio.testing)."""

from __future__ import annotations

import pathlib

import pytest

pytest_plugins = ["provisio.testing"]

REPO = pathlib.Path(__file__).resolve().parents[3]
LAUNCH = REPO / "examples" / "launch-tenant"
FIXTURES = LAUNCH / "memory-fixtures.yaml"
SMTP = {"smtp_password": "smtp-credential-0123"}


@pytest.fixture
def launch() -> pathlib.Path:
    """The launch-tenant example blueprint directory."""
    return LAUNCH
