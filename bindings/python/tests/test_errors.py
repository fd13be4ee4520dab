"""The exception hierarchy, retryability, and secrets that never show."""

from __future__ import annotations

import builtins
import pickle

import pytest

import provisio
from provisio import errors


@pytest.mark.parametrize(
    ("cls", "kind", "retryable"),
    [
        (provisio.NotFoundError, "not_found", False),
        (provisio.AlreadyExistsError, "already_exists", False),
        (provisio.ConflictError, "conflict", False),
        (provisio.InvalidInputError, "invalid_input", False),
        (provisio.PermissionDeniedError, "permission_denied", False),
        (provisio.UnauthenticatedError, "unauthenticated", False),
        (provisio.RateLimitedError, "rate_limited", True),
        (provisio.TransientError, "transient", True),
        (provisio.ProvisioTimeoutError, "timeout", True),
        (provisio.ProtectedError, "protected", False),
        (provisio.UnsupportedError, "unsupported", False),
        (provisio.CancelledError, "cancelled", False),
        (provisio.UnexpectedError, "unexpected", False),
    ],
)
def test_one_class_per_kind(cls: type[provisio.Error], kind: str, retryable: bool) -> None:
    assert issubclass(cls, provisio.Error) and issubclass(cls, Exception)
    err = cls("boom", provider="memory", operation="dns.ensure_record", resource="acme")
    assert err.kind == kind and err.retryable is retryable
    assert (err.provider, err.operation, err.resource) == ("memory", "dns.ensure_record", "acme")
    native = errors._from_native(kind, "boom", f"{kind}: boom", "p", "o", "r", 1.5)
    assert type(native) is cls and native.message == "boom" and str(native) == f"{kind}: boom"


def test_timeout_is_also_the_builtin_timeout() -> None:
    assert issubclass(provisio.ProvisioTimeoutError, builtins.TimeoutError)
    assert provisio.TimeoutError is provisio.ProvisioTimeoutError
    with pytest.raises(builtins.TimeoutError):
        raise provisio.ProvisioTimeoutError("slow")


def test_rate_limited_carries_retry_after() -> None:
    err = errors._from_native("rate_limited", "rate limited", "rate_limited: x", None, None, None, 2.5)
    assert isinstance(err, provisio.RateLimitedError) and err.retry_after == 2.5


def test_errors_from_rust_carry_their_context(provisio_providers: provisio.Providers) -> None:
    with pytest.raises(provisio.Error) as info:
        provisio_providers.storage().get_object("no-such-bucket", "k")
    err = info.value
    assert isinstance(err, provisio.NotFoundError)
    assert err.provider == "memory" and err.operation == "storage.get_object"
    assert "no-such-bucket" in str(err) and not err.retryable


def test_unknown_provider_name_is_invalid_input(provisio_providers: provisio.Providers) -> None:
    with pytest.raises(provisio.InvalidInputError, match="no dns provider named"):
        provisio_providers.dns("cloudflare")


def test_secret_is_redacted() -> None:
    s = provisio.Secret("hunter2-hunter2")
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"k": s})):
        assert "hunter2" not in shown
    assert s.reveal() == "hunter2-hunter2"
    assert s == provisio.Secret("hunter2-hunter2") and s != provisio.Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_secret_cannot_leak_into_plain_data(provisio_providers: provisio.Providers) -> None:
    with pytest.raises(TypeError, match="Secret"):
        provisio_providers.storage().ensure_bucket("b-123", tags={"k": provisio.Secret("x")})  # type: ignore[dict-item]
