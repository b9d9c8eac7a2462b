"""The links tests use the shared fixture modules (``tests/fixtures``); these names stay
importable from here for the modules that still import them from this package."""

from tests.fixtures.app import QueryCounter
from tests.fixtures.users import UserFactory

__all__ = ["QueryCounter", "UserFactory"]
