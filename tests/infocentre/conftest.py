"""The infocentre tests run against the real facade wired to the DMP simulator over mutual TLS (tests/e2e)."""

from tests.e2e.conftest import e2e_pki, facade, simulator, start_facade  # noqa: F401
