"""Python-side helpers of the native module: the redacted ``Secret``, the asyncio driver of
native tasks, and the adapter that runs custom steps."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import inspect
from typing import Any, Callable, Mapping, Optional, Sequence, Union

REDACTED = "***redacted***"


class Secret:
    """A secret value that never shows itself: ``repr``/``str`` are redacted, pickling is
    refused. ``reveal()`` returns the value (make every read visible in review)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The secret value. Never log it, put it in an error, or store it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __reduce__(self) -> Any:
        raise TypeError("a provisio.Secret cannot be pickled")


# -- asyncio ---------------------------------------------------------------------------------


async def run_async(task: Any, on_event: Optional[Callable[[Any], Any]] = None) -> Any:
    """Awaits a native task. Cancelling the awaiting asyncio task cancels the run through its
    cancellation token and waits for it to stop cleanly before re-raising."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    callback_errors: list[BaseException] = []
    pending: list[asyncio.Future[Any]] = []

    def resolve(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def deliver(event: Any) -> None:
        if callback_errors or on_event is None:
            return
        try:
            result = on_event(event)
            if inspect.isawaitable(result):
                pending.append(asyncio.ensure_future(result))
        except BaseException as e:  # the run is cancelled, the error raised at the end
            callback_errors.append(e)
            task.cancel()

    task.start(loop, resolve, deliver if on_event is not None else None)
    try:
        result = await asyncio.shield(fut)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await fut
        raise
    except BaseException:
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if callback_errors:
            raise callback_errors[0] from None
        raise
    if pending:
        await asyncio.gather(*pending)
    if callback_errors:
        raise callback_errors[0]
    return result


# -- custom steps ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What a custom step's methods may use."""

    tenant: str
    """The tenant's name."""
    vars: Mapping[str, Any]
    """The tenant's plain variables."""
    secrets: Mapping[str, Secret]
    """The tenant's secret variables."""
    blueprint: str
    """The blueprint's name."""
    resource: str
    """The resource's name in the blueprint."""
    provider: str
    """The provider name the resource asked for."""
    ownership: Mapping[str, str]
    """The ownership tags to put on what the step creates."""
    idempotency_token: str
    """A token stable across retries and resumed runs of this resource."""


Outputs = dict[str, Any]
"""What a step's ``apply``/``read`` return: the resource's outputs (never a secret value)."""


class Step:
    """Base class of custom steps: a resource type whose operations are Python methods.

    Set ``name`` (the blueprint ``type:``, e.g. ``"acme.welcome_mail"``) and ``outputs`` (the
    output keys), and implement ``apply``. Methods may be ``async def``. ``apply`` must be
    idempotent; it returns the outputs (the outcome is inferred: created without ``prior``,
    unchanged when equal to ``prior``, else updated) or ``(outputs, outcome)``.
    """

    name: str = ""
    outputs: Sequence[str] = ()
    replace_fields: Sequence[str] = ()

    def validate(self, params: Mapping[str, Any]) -> None:
        """Checks parameters at load time (may still hold unresolved ``${...}`` strings)."""

    def identity(self, ctx: StepContext, params: Mapping[str, Any]) -> str:
        """The resource's deterministic identity (default: type, tenant and resource name)."""
        return f"{self.name} {ctx.tenant}/{ctx.resource}"

    def read(
        self, ctx: StepContext, params: Mapping[str, Any], prior: Optional[Outputs]
    ) -> Any:
        """The outputs of the resource as it exists now, or ``None`` when it does not exist
        (default: what state recorded)."""
        return prior

    def apply(
        self, ctx: StepContext, params: Mapping[str, Any], prior: Optional[Outputs]
    ) -> Any:
        """Creates the resource or brings it to ``params``; returns its outputs."""
        raise NotImplementedError(f"step {self.name!r} does not implement apply")

    def delete(self, ctx: StepContext, params: Mapping[str, Any], outputs: Any) -> Any:
        """Deletes the resource; return ``False`` when it was already gone."""
        return None


class _FunctionStep(Step):
    def __init__(
        self,
        name: str,
        apply: Callable[..., Any],
        outputs: Sequence[str],
        delete: Optional[Callable[..., Any]],
    ) -> None:
        self.name = name
        self.outputs = tuple(outputs)
        self._apply = apply
        self._delete = delete

    def apply(
        self, ctx: StepContext, params: Mapping[str, Any], prior: Optional[Outputs]
    ) -> Any:
        return self._apply(ctx, params, prior)

    def delete(self, ctx: StepContext, params: Mapping[str, Any], outputs: Any) -> Any:
        return None if self._delete is None else self._delete(ctx, params, outputs)


def step(
    name: str, *, outputs: Sequence[str] = (), delete: Optional[Callable[..., Any]] = None
) -> Callable[[Callable[..., Any]], Step]:
    """Turns an ``apply(ctx, params, prior)`` function (sync or async) into a ``Step``."""

    def wrap(fn: Callable[..., Any]) -> Step:
        return _FunctionStep(name, fn, outputs, delete)

    return wrap


def _await(value: Any, loop: Optional[asyncio.AbstractEventLoop]) -> Any:
    if not inspect.isawaitable(value):
        return value

    async def as_coroutine() -> Any:
        return await value

    if loop is not None and loop.is_running():
        return asyncio.run_coroutine_threadsafe(as_coroutine(), loop).result()
    return asyncio.run(as_coroutine())


def invoke_step(
    step_obj: Step,
    method: str,
    loop: Optional[asyncio.AbstractEventLoop],
    ctx: dict[str, Any],
    secrets: dict[str, Secret],
    *args: Any,
) -> Any:
    """Runs one method of a custom step (called by the native module on a worker thread) and
    normalizes its result to plain data."""
    context = StepContext(secrets=secrets, **ctx)
    value = _await(getattr(step_obj, method)(context, *args), loop)
    if method == "apply":
        prior = args[1] if len(args) > 1 else None
        outcome: Union[str, None] = None
        if isinstance(value, tuple):
            value, outcome = value
        outputs = dict(value or {})
        if outcome is None:
            outcome = "created" if prior is None else ("unchanged" if prior == outputs else "updated")
        return {"outputs": outputs, "outcome": outcome}
    if method == "delete":
        return "already_gone" if value is False or value == "already_gone" else "deleted"
    if method == "read":
        return None if value is None else dict(value)
    if method == "identity":
        return str(value)
    return value
