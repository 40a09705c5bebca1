"""The batch part of the Camunda-7-compatible REST API."""
