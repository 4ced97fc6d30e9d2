"""The agent's own cost per iteration, without the LLM's latency, and the size of its prompts per app.

A loopback OpenAI-compatible server (tests/llm_server.py) answers at once with a new mapper each
time, so what remains of a propose() is hpcmap's and trace-opt's work: rebuilding the MapperAgent
from the history, building the prompt, parsing the reply, running and checking the new mapper.
Prints, per app, over ITERATIONS proposals on MACHINE: the first propose (imports included), the
median and maximum of the rest minus the time spent waiting for the server (goal under 1 s), and
the prompt size of the first and last call in characters, in whitespace-separated words, and as
characters / 4 (OpenAI's rule of thumb for tokens; tiktoken needs its vocabulary downloaded, which
this machine cannot do).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import ScriptedLLM, suggest  # noqa: E402

from hpcmap.machine import load  # noqa: E402
from hpcmap.tune import agent  # noqa: E402
from hpcmap.tune.base import Candidate, Context, Evaluated  # noqa: E402

APPS = tuple(sorted(p.parent.name for p in (ROOT / "benchmarks").glob("*/expert.map")))
MACHINE = "h100x4"
ITERATIONS = 10


def prompt_chars(exchange) -> str:
    return " ".join(m["content"] for m in exchange.messages)


def bench(app: str) -> dict:
    expert = (ROOT / "benchmarks" / app / "expert.map").read_text()
    task = next(iter(agent.app_info(app)["tasks"]))
    replies = [suggest({"memory_pressure": f"InstanceLimit {task} {n};"}) for n in range(1, 2 * ITERATIONS + 1)]
    with ScriptedLLM(replies) as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ.setdefault("OPENAI_API_KEY", "unused")
        start = time.perf_counter()
        opt = agent.make(Context(app=app, machine=load(MACHINE)))
        made = time.perf_counter() - start
        history = [Evaluated(Candidate("default", ""), "ok", 1.0), Evaluated(Candidate("expert", expert), "ok", 0.8)]
        overheads, sizes = [], []
        for i in range(ITERATIONS):
            start = time.perf_counter()
            [cand] = opt.propose(history, 1)
            assert len(opt.last_exchanges) == 1, "every scripted reply is a valid new mapper"
            wall = time.perf_counter() - start
            overheads.append(wall - sum(e.latency_s for e in opt.last_exchanges))
            text = prompt_chars(opt.last_exchanges[0])
            sizes.append((len(text), len(text.split())))
            history.append(Evaluated(cand, "ok", 0.8 - 0.01 * i))
    return {"make": made, "first": overheads[0], "median": statistics.median(overheads[1:]),
            "max": max(overheads[1:]), "sizes": sizes}


def main() -> None:
    print(f"agent overhead per iteration (LLM latency excluded), {ITERATIONS} proposals, machine {MACHINE}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'app':8} {'make s':>7} {'first s':>8} {'median s':>9} {'max s':>7}   prompt chars / words / ~tokens "
          "(first, last)")
    for app in APPS:
        r = bench(app)
        (c0, w0), (c1, w1) = r["sizes"][0], r["sizes"][-1]
        print(f"{app:8} {r['make']:7.2f} {r['first']:8.3f} {r['median']:9.3f} {r['max']:7.3f}   "
              f"{c0} / {w0} / {c0 // 4}   ->   {c1} / {w1} / {c1 // 4}")


if __name__ == "__main__":
    main()
