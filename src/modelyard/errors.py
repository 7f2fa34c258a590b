"""The one exception tree of Modelyard.

Every error a user can meet is a :class:`ModelyardError`. Each class carries an HTTP ``status``
and a stable ``code`` (its class name); each instance carries a ``message`` that says what
happened to which object, and an optional ``hint`` that says what to do next. The HTTP layer
maps them to one JSON body shape (:meth:`ModelyardError.to_dict`), the CLI prints them as one
clean paragraph, and the HTTP client re-raises the class named by ``code``.

>>> try:
...     raise NotFound("run 'abc' does not exist", hint="list runs with: modelyard runs list")
... except ModelyardError as exc:
...     exc.to_dict()["error"]["code"]
'NotFound'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "BackendError",
    "ConfigError",
    "Forbidden",
    "IntegrityError",
    "InvalidArgument",
    "InvalidState",
    "ModelyardError",
    "NotFound",
    "SchemaOutdated",
    "SignatureError",
    "StoreError",
    "Unauthorized",
    "UserError",
    "error_class",
]


class ModelyardError(Exception):
    """Base of every Modelyard error: catch this to catch them all."""

    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def code(self) -> str:
        """Stable machine-readable name of the error: the class name."""
        return type(self).__name__

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape used over HTTP."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return {"error": body, "status": self.status}


class UserError(ModelyardError):
    """The caller can fix it."""

    status = 400


class Unauthorized(UserError):
    """No valid token was given to a server that requires one."""

    status = 401


class Forbidden(UserError):
    """The token is valid but may not do this (a read-only token tried to write)."""

    status = 403


class NotFound(UserError, LookupError):
    """The named object does not exist."""

    status = 404


class AlreadyExists(UserError):
    """An object with that name or key already exists."""

    status = 409


class InvalidArgument(UserError, ValueError):
    """An argument has the wrong type, format or value."""

    status = 400


class SignatureError(InvalidArgument):
    """Input does not match a model's signature; ``problems`` lists every mismatch."""

    status = 422

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)

    def to_dict(self) -> dict[str, Any]:
        """The one error shape, with ``error.problems`` listing each mismatch."""
        body = super().to_dict()
        body["error"]["problems"] = list(self.problems)
        return body


class InvalidState(UserError):
    """The object exists but is in a state that does not allow the operation."""

    status = 409


class ConfigError(ModelyardError):
    """A setting is missing or has a bad value."""

    status = 500
    exit_code = 2


class StoreError(ModelyardError):
    """The metadata store is unreachable or failed."""

    status = 503


class SchemaOutdated(StoreError):
    """The metadata store needs a migration before it can be used."""

    status = 503


class BackendError(ModelyardError):
    """An artifact or serving backend failed."""

    status = 502


class IntegrityError(BackendError):
    """Stored bytes do not match their recorded digest: they were changed or damaged."""

    status = 502


def _all_subclasses(cls: type[ModelyardError]) -> list[type[ModelyardError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def error_class(code: str) -> type[ModelyardError]:
    """The error class whose ``code`` is ``code`` (``ModelyardError`` when unknown).

    The HTTP client uses it to re-raise a server error as the same class.
    """
    for cls in _all_subclasses(ModelyardError):
        if cls.__name__ == code:
            return cls
    return ModelyardError
