"""A small BPMN process engine: definitions, instances, jobs, history and their REST API."""
