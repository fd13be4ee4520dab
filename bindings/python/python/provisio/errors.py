"""provisio's exceptions: one base class, one subclass per error kind.

Every error carries ``kind`` (the snake_case kind name), ``retryable`` (whether simply retrying
may succeed), and where it happened: ``provider``, ``operation`` and ``resource`` (each ``None``
when unknown). ``message`` is the bare message; ``str(error)`` adds the context.

Custom steps may raise these too: a ``TransientError`` is retried by the engine, a
``NotFoundError`` is not.
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "Error",
    "NotFoundError",
    "AlreadyExistsError",
    "ConflictError",
    "InvalidInputError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "RateLimitedError",
    "TransientError",
    "ProvisioTimeoutError",
    "ProtectedError",
    "UnsupportedError",
    "CancelledError",
    "UnexpectedError",
]


class Error(Exception):
    """The base class of every provisio error."""

    kind: str = "unexpected"
    retryable: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        provider: Optional[str] = None,
        operation: Optional[str] = None,
        resource: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message: str = message
        self.provider: Optional[str] = provider
        self.operation: Optional[str] = operation
        self.resource: Optional[str] = resource

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message


class NotFoundError(Error):
    """The resource does not exist."""

    kind = "not_found"


class AlreadyExistsError(Error):
    """A resource with this identity exists with other settings."""

    kind = "already_exists"


class ConflictError(Error):
    """The request conflicts with the resource's current state."""

    kind = "conflict"


class InvalidInputError(Error):
    """A name, parameter or document failed validation."""

    kind = "invalid_input"


class PermissionDeniedError(Error):
    """The caller is authenticated but not allowed to do this."""

    kind = "permission_denied"


class UnauthenticatedError(Error):
    """The credentials are missing, wrong or expired."""

    kind = "unauthenticated"


class RateLimitedError(Error):
    """The provider throttled the caller; ``retry_after`` is its hint in seconds, if any."""

    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str = "rate limited",
        *,
        retry_after: Optional[float] = None,
        provider: Optional[str] = None,
        operation: Optional[str] = None,
        resource: Optional[str] = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation, resource=resource)
        self.retry_after: Optional[float] = retry_after


class TransientError(Error):
    """A temporary failure that may succeed when retried."""

    kind = "transient"
    retryable = True


class ProvisioTimeoutError(Error, builtins.TimeoutError):
    """The operation did not finish in time (also a built-in ``TimeoutError``)."""

    kind = "timeout"
    retryable = True

    def __init__(
        self,
        message: str = "",
        *,
        provider: Optional[str] = None,
        operation: Optional[str] = None,
        resource: Optional[str] = None,
    ) -> None:
        Error.__init__(self, message, provider=provider, operation=operation, resource=resource)


class ProtectedError(Error):
    """The resource is protected and the caller did not name it in an override."""

    kind = "protected"


class UnsupportedError(Error):
    """The provider does not support this operation."""

    kind = "unsupported"


class CancelledError(Error):
    """The run or step was cancelled (KeyboardInterrupt, task cancellation)."""

    kind = "cancelled"


class UnexpectedError(Error):
    """Anything else: a bug, or a response that could not be understood."""

    kind = "unexpected"


_BY_KIND: dict[str, type[Error]] = {
    cls.kind: cls
    for cls in (
        NotFoundError,
        AlreadyExistsError,
        ConflictError,
        InvalidInputError,
        PermissionDeniedError,
        UnauthenticatedError,
        RateLimitedError,
        TransientError,
        ProvisioTimeoutError,
        ProtectedError,
        UnsupportedError,
        CancelledError,
        UnexpectedError,
    )
}


def _from_native(
    kind: str,
    message: str,
    display: str,
    provider: Optional[str],
    operation: Optional[str],
    resource: Optional[str],
    retry_after: Optional[float],
) -> Error:
    """Builds the exception for an error coming from Rust (called by the native module)."""
    cls = _BY_KIND.get(kind, UnexpectedError)
    err: Error
    if cls is RateLimitedError:
        err = RateLimitedError(
            display,
            retry_after=retry_after,
            provider=provider,
            operation=operation,
            resource=resource,
        )
    else:
        err = cls(display, provider=provider, operation=operation, resource=resource)
    err.message = message
    return err
