"""The Camunda-7-compatible REST API of the engine, served under /engine-rest/."""
