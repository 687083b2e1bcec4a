"""The payment tests' fixtures (``localstripe``, ``pay_server``) live in tests/localstripe_server.py, a
plugin of the root conftest, since the isolation test needs them too; its names are re-exported here
for the tests that import them from this module."""

from tests.localstripe_server import LOCALSTRIPE, PUBLISHABLE_KEY, SECRET_KEY, _free_port, stripe_settings

__all__ = ["LOCALSTRIPE", "PUBLISHABLE_KEY", "SECRET_KEY", "_free_port", "stripe_settings"]
