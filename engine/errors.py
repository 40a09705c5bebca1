"""Exceptions raised by engine services; the REST layer maps each to Camunda's error body."""


class EngineError(Exception):
    """Something went wrong inside the engine (HTTP 500 if it ever reaches a client)."""

    status = 500
    type_name = "ProcessEngineException"


class BadUserRequest(EngineError):
    """The caller asked for something invalid (HTTP 400)."""

    status = 400
    type_name = "InvalidRequestException"


class NotFound(EngineError):
    """The named entity does not exist or is not visible to the caller (HTTP 404)."""

    status = 404
    type_name = "InvalidRequestException"


class NotAuthorized(EngineError):
    """The caller lacks the permission (HTTP 403)."""

    status = 403
    type_name = "AuthorizationException"


class ServiceTaskFailed(EngineError):
    """A service task's behaviour failed; the job executor records it on the job."""


class EngineRefusal(BadUserRequest):
    """A request the engine refuses where Camunda throws a plain ProcessEngineException.

    Camunda answers those with a 500; a refusal of the caller's request is a 400 here, with
    Camunda's type and message so that clients recognise it.
    """

    type_name = "ProcessEngineException"


class BadUserRequestException(BadUserRequest):
    """Where Camunda's REST layer passes the engine's BadUserRequestException through as its type."""

    type_name = "BadUserRequestException"
