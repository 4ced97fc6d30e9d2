"""The LLM behind the agent: any OpenAI-compatible chat endpoint, retried, metered and recorded.

The endpoint comes from the environment: `OPENAI_BASE_URL` (a vLLM or ollama server, or unset for
the hosted API) and `OPENAI_API_KEY` (optional for a local server). The `openai` client retries
HTTP 429, 5xx, timeouts and refused connections with exponential backoff (honouring `Retry-After`);
when the retries are spent, the study stops with one line saying which endpoint failed and how.

Every call becomes an `Exchange`: the messages sent, the reply, the token counts from the reply's
`usage`, their cost, the latency. The key stays inside the client object: no record holds it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from typing import Any

from hpcmap.errors import UserError

DEFAULT_MODEL = "gpt-4o-2024-08-06"   # the model of the published agent
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRIES = 3
NO_KEY = "unused"                     # local servers take any key; the client insists on one


class LLMUnavailable(UserError):
    """The endpoint did not answer usefully after all retries (unreachable, 429, 5xx, timeout)."""


@dataclass
class Exchange:
    """One chat call: what was sent and received, token use and cost; never the key."""

    model: str
    messages: list[dict]
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    error: str = ""
    tags: dict[str, Any] = field(default_factory=dict)   # set by the agent: slot, attempt, purpose, result

    def as_dict(self) -> dict:
        return asdict(self)


# How an iteration (one proposal slot) ended, in the `result` tag of its last exchange.
CANDIDATE, STILL_INVALID, NO_CANDIDATE = "candidate", "still_invalid", "no_candidate"


def totals(exchanges: list[dict]) -> dict:
    """Calls, tokens and cost of recorded exchanges, and how the iterations they served ended: with a
    candidate that passed the static check, one still invalid after the repairs, or none. An iteration
    cut short by an unreachable endpoint has no `result` and is not counted."""
    ended = [(x.get("tags") or {}).get("result") for x in exchanges]
    counts = {kind: ended.count(kind) for kind in (CANDIDATE, STILL_INVALID, NO_CANDIDATE)}
    return {"calls": len(exchanges), "prompt_tokens": sum(int(x.get("prompt_tokens") or 0) for x in exchanges),
            "completion_tokens": sum(int(x.get("completion_tokens") or 0) for x in exchanges),
            "cost": sum(float(x.get("cost") or 0.0) for x in exchanges),
            "iterations": sum(counts.values()),
            "iterations_without_valid_candidate": counts[STILL_INVALID] + counts[NO_CANDIDATE],
            "iterations_still_invalid": counts[STILL_INVALID], "iterations_without_candidate": counts[NO_CANDIDATE]}


def describe_totals(t: dict) -> str:
    """One line for people: calls, tokens, cost, iterations without a valid candidate."""
    return (f"LLM: {t['calls']} call(s), {t['prompt_tokens']} prompt + {t['completion_tokens']} completion tokens, "
            f"cost {t['cost']:.4f}; {t['iterations']} iteration(s), {t['iterations_without_valid_candidate']} "
            f"without a valid candidate ({t['iterations_still_invalid']} still invalid after the repairs, "
            f"{t['iterations_without_candidate']} with no candidate)")


@dataclass(frozen=True)
class Endpoint:
    """Where the client sends requests and what it pays; `api_key` is never recorded."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: str = field(default="", repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    price_in: float = 0.0            # per million prompt tokens
    price_out: float = 0.0           # per million completion tokens

    @property
    def where(self) -> str:
        return self.base_url or "the OpenAI API"


def endpoint_from(options: dict, env: dict[str, str] | None = None) -> Endpoint:
    """The endpoint named by the environment, with model, timeout and prices from `options`."""
    env = os.environ if env is None else env
    base_url = env.get("OPENAI_BASE_URL") or None
    key = env.get("OPENAI_API_KEY", "")
    if not base_url and not key:
        raise UserError("no LLM endpoint configured: set OPENAI_BASE_URL (an OpenAI-compatible server) "
                        "and/or OPENAI_API_KEY")
    return Endpoint(model=str(options.get("model") or DEFAULT_MODEL), base_url=base_url, api_key=key or NO_KEY,
                    timeout_s=float(options.get("llm_timeout") or options.get("timeout") or DEFAULT_TIMEOUT_S),
                    retries=int(options.get("retries", DEFAULT_RETRIES)),
                    price_in=float(options.get("price_in") or 0.0), price_out=float(options.get("price_out") or 0.0))


class ChatClient:
    """Calls the chat endpoint; callable with OpenAI's keyword arguments, as trace-opt calls a model."""

    def __init__(self, endpoint: Endpoint):
        import openai

        self.endpoint = endpoint
        self.exchanges: list[Exchange] = []
        self._client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key,
                                     timeout=endpoint.timeout_s, max_retries=endpoint.retries)
        self._failed: UserError | None = None

    def __call__(self, **kwargs: Any):
        import openai

        if self._failed is not None and "response_format" not in kwargs:
            # trace-opt repeats a failed call without response_format; that only helps a server
            # that rejects the format, not one that is down, so do not wait for it twice.
            failed, self._failed = self._failed, None
            raise failed
        self._failed = None
        ep = self.endpoint
        record = Exchange(model=ep.model, messages=list(kwargs.get("messages", [])))
        self.exchanges.append(record)
        start = time.perf_counter()
        try:
            response = self._client.chat.completions.create(model=ep.model, **kwargs)
        except openai.APIStatusError as exc:
            record.error = f"HTTP {exc.status_code}: {_first_line(exc.message)}"
            if exc.status_code in (400, 404, 422):
                if "response_format" in kwargs:          # perhaps not supported: trace-opt retries without it
                    raise
                raise UserError(f"LLM endpoint {ep.where} rejected the request (HTTP {exc.status_code}): "
                                f"{_first_line(exc.message)}") from None
            if exc.status_code in (401, 403):
                self._failed = UserError(f"LLM endpoint {ep.where} refused the request (HTTP {exc.status_code}): "
                                         "check OPENAI_API_KEY")
                raise self._failed from None
            self._failed = LLMUnavailable(f"LLM endpoint {ep.where} answered HTTP {exc.status_code} "
                                          f"after {ep.retries} retries")
            raise self._failed from None
        except openai.APIConnectionError as exc:
            what = (f"did not answer within {ep.timeout_s:g} s" if isinstance(exc, openai.APITimeoutError)
                    else "is not reachable")
            record.error = f"{what}: {_first_line(str(exc.__cause__ or exc))}"
            self._failed = LLMUnavailable(f"LLM endpoint {ep.where} {what} (after {ep.retries} retries)")
            raise self._failed from None
        except (openai.OpenAIError, ValueError) as exc:   # e.g. a body that is not a chat completion
            record.error = f"unreadable reply: {_first_line(str(exc))}"
            return _empty_response()
        finally:
            record.latency_s = time.perf_counter() - start
        choices = getattr(response, "choices", None)
        if not choices:
            record.error = "reply has no choices"
            return _empty_response()
        record.reply = choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        record.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        record.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        record.cost = (record.prompt_tokens * ep.price_in + record.completion_tokens * ep.price_out) / 1e6
        choices[0].message.content = record.reply
        return response


def _empty_response():
    message = types.SimpleNamespace(content="")
    return types.SimpleNamespace(choices=[types.SimpleNamespace(message=message)], usage=None)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


@contextlib.contextmanager
def _quick_stack():
    """trace-opt's `bundle` reads its caller's locals through inspect.stack(), which also looks up the
    source file of every frame against every loaded module: tens of seconds in a large process. It
    only needs the frames, so hand it those while it runs."""
    import inspect

    def frames(context: int = 1) -> list:
        out, frame = [], sys._getframe(1)
        while frame is not None:
            out.append(types.SimpleNamespace(frame=frame))
            frame = frame.f_back
        return out

    original, inspect.stack = inspect.stack, frames
    try:
        yield
    finally:
        inspect.stack = original


def opto():
    """trace-opt's modules, imported without litellm (never used here) and without its banner on stdout."""
    if "litellm" not in sys.modules and importlib.util.find_spec("litellm") is None:
        sys.modules["litellm"] = types.ModuleType("litellm")
    try:
        with contextlib.redirect_stdout(io.StringIO()), _quick_stack():
            import opto.optimizers
            import opto.trace
            import opto.utils.llm
    except ImportError as exc:
        raise UserError(f"the agent needs trace-opt ({exc}): run `make setup`, or "
                        "`pip install --no-deps trace-opt==0.1.3.8`") from None
    return opto


def bundle(fun, **kwargs):
    """trace-opt's `bundle(**kwargs)(fun)`, without the slow stack walk."""
    with _quick_stack():
        return opto().trace.bundle(**kwargs)(fun)


def trace_model(client: ChatClient):
    """The client as a trace-opt model (its `CustomLLM(model=...)` fails; AbstractModel is the hook)."""
    return opto().utils.llm.AbstractModel(lambda: client)
