"""An OpenAI-compatible chat server on loopback that plays scripted replies, for the agent's tests.

It is the only test double the project allows: the real `openai` client, the real trace-opt
optimizer and the real study loop talk to it over HTTP. Each POST to /v1/chat/completions takes
the next step of the script:

- a string: the reply's message content, as is (it may be malformed JSON on purpose);
- a callable `f(request_json) -> str`: content computed from the request (e.g. keyed by the
  `__codeN` names that trace-opt puts in the prompt; see `suggest`);
- `Status(code)`: an HTTP error with an OpenAI-style error body (429, 500, ...);
- `Hang(seconds)`: no answer for that long (the client's timeout fires first);
- `Body(text)`: a raw response body that is not a chat completion at all;
- `Gone()`: the server goes away: this request is dropped unanswered and later connections are refused.

When the script runs out, `default` answers. Every request is kept (`requests`), and every
reply carries `usage` whose totals the server adds up (`prompt_tokens`, `completion_tokens`), so
tests can compare what hpcmap recorded with what the server counted. Tokens are counted as
whitespace-separated words: any rule will do, as long as both sides report the same number.

Run alone (`python tests/llm_server.py --reply FILE`) it serves FILE's content forever
and prints its base URL, for trying the agent by hand.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

CODE_VAR = re.compile(r"\(code\) (__code\d+):\s*def (\w+)\(")


@dataclass(frozen=True)
class Status:
    code: int
    retry_after_ms: int = 20


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass(frozen=True)
class Body:
    text: str


@dataclass(frozen=True)
class Gone:
    pass


Step = str | Callable[[dict], str] | Status | Hang | Body | Gone


def count_tokens(text: str) -> int:
    return len(text.split())


def code_names(request: dict) -> dict[str, str]:
    """Function name -> trace-opt variable name (`__codeN`), read from the request's user prompt."""
    user = "\n".join(m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user")
    names: dict[str, str] = {}
    for var, fun in CODE_VAR.findall(user):
        names.setdefault(fun, var)
    return names


def suggest(blocks: dict[str, str], reasoning: str = "scripted") -> Callable[[dict], str]:
    """A step replacing the named mapper parts: {function name: mapping-language text it returns}."""

    def reply(request: dict) -> str:
        names = code_names(request)
        suggestion = {names[fun]: f"def {fun}(machine, app):\n    return {text!r}\n"
                      for fun, text in blocks.items() if fun in names}
        return json.dumps({"reasoning": reasoning, "answer": "", "suggestion": suggestion})

    return reply


def suggest_code(sources: dict[str, str]) -> Callable[[dict], str]:
    """A step replacing the named functions with the given Python sources, as an LLM would write them."""

    def reply(request: dict) -> str:
        names = code_names(request)
        return json.dumps({"reasoning": "scripted", "answer": "",
                           "suggestion": {names[f]: src for f, src in sources.items() if f in names}})

    return reply


class ScriptedLLM:
    """The server, on 127.0.0.1 and a free port, in a daemon thread; use as a context manager."""

    def __init__(self, script: list[Step] | None = None, default: Step | None = None):
        self.script = list(script or [])
        self.default = default if default is not None else json.dumps({"reasoning": "", "suggestion": {}})
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: dict, headers: dict[str, str]) -> Step:
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
            return self.script.pop(0) if self.script else self.default

    def _usage(self, request: dict, content: str) -> dict:
        prompt = count_tokens(" ".join(str(m.get("content", "")) for m in request.get("messages", [])))
        completion = count_tokens(content)
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    request = {}
                step = server._next(request, {k.lower(): v for k, v in self.headers.items()})
                if isinstance(step, Hang):
                    time.sleep(step.seconds)
                    return
                if isinstance(step, Gone):   # stop listening first, so the client's retries are refused
                    server._server.shutdown()
                    server._server.server_close()
                    self.close_connection = True
                    return
                if isinstance(step, Status):
                    error = {"error": {"message": f"scripted HTTP {step.code}", "type": "scripted", "code": step.code}}
                    self._send(step.code, json.dumps(error), {"retry-after-ms": str(step.retry_after_ms)})
                    return
                if isinstance(step, Body):
                    self._send(200, step.text)
                    return
                content = step(request) if callable(step) else step
                reply = {"id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                         "created": int(time.time()), "model": request.get("model", ""),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": server._usage(request, content)}
                self._send(200, json.dumps(reply))

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply", required=True, help="file whose content is every reply")
    args = parser.parse_args()
    with open(args.reply) as f, ScriptedLLM(default=f.read()) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
