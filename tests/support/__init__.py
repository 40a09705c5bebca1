"""Helpers shared by the tests: factories, a q2 cluster runner, test-only job handlers."""
