"""Each question's timeline in the load test, and what made the slowest ones slow.

``load_test.py`` marks when the bot starts handling a question, gets its vector and
searches; the stand-in's record (:class:`botapi.Call`) gives the rest: when the question
was pushed, which getUpdates (or webhook POST) handed it out, and every sendMessage attempt
for it with its status. From those, :func:`causes` splits each question's latency into the
seconds it spent waiting on a fault (a getUpdates that failed, so nothing was fetched until
the next one; a sendMessage that failed, until its retry) and the rest, the bot's own work
and queueing; :func:`tail` sums that over the slowest 5 %.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

#: What a question's latency is split into, by :func:`causes`.
CAUSES = (
    "getUpdates 429",
    "getUpdates 5xx",
    "sendMessage 429",
    "sendMessage 5xx",
    "bot's work and queueing",
)


def _kind(status: int) -> str:
    return "429" if status == 429 else "5xx"


def poll_faults(calls: list[Any]) -> list[tuple[float, float, str]]:
    """Each failed getUpdates as (its arrival, the next getUpdates' arrival, "429"|"5xx"):
    while it lasts nothing is fetched, so every question waiting then waits it out."""
    polls = [c for c in calls if c.method == "getUpdates"]
    return [
        (call.at, polls[i + 1].at if i + 1 < len(polls) else call.at, _kind(call.status))
        for i, call in enumerate(polls)
        if call.status != 200
    ]


def sends_by_chat(calls: list[Any]) -> dict[Any, list[Any]]:
    """Every sendMessage attempt (failed ones too), by chat, in the order they arrived."""
    out: dict[Any, list[Any]] = defaultdict(list)
    for call in calls:
        if call.method == "sendMessage":
            out[call.chat_id].append(call)
    return out


def timeline(
    at: dict[str, float], handed: float, batch: tuple[float, float], sends: list[Any]
) -> dict[str, Any]:
    """One question's moments (seconds after it was pushed) and its sendMessage attempts.

    ``at`` is the question's marks (pushed, dispatched, searching, searched, sent),
    ``handed`` when the stand-in handed it out, ``batch`` its encoder call's start and end,
    ``sends`` its chat's sendMessage attempts (those after its search are its own: a chat
    asks its next question only once this one is answered).
    """
    t0 = at["pushed"]
    own = [c for c in sends if at["searched"] <= c.at <= at["sent"]]
    return {
        "handed out": round(handed - t0, 4),
        "handler starts": round(at["dispatched"] - t0, 4),
        "encoding": [round(batch[0] - t0, 4), round(batch[1] - t0, 4)],
        "search": [round(at["searching"] - t0, 4), round(at["searched"] - t0, 4)],
        "sendMessage": [[round(c.at - t0, 4), c.status] for c in own],
        "answered": round(at["sent"] - t0, 4),
    }


def causes(line: dict[str, Any], faults: list[tuple[float, float, str]], t0: float) -> dict:
    """Seconds of a question's latency spent waiting on each kind of fault, and the rest.

    A failed getUpdates counts for as long as it overlapped the question's wait to be handed
    out; a failed sendMessage, from that attempt to the next one.
    """
    out = dict.fromkeys(CAUSES, 0.0)
    start, end = t0, t0 + line["handed out"]
    for begin, finish, kind in faults:
        out[f"getUpdates {kind}"] += max(0.0, min(end, finish) - max(start, begin))
    attempts = line["sendMessage"]
    for (at, status), (later, _) in zip(attempts, attempts[1:], strict=False):
        if status != 200:
            out[f"sendMessage {_kind(status)}"] += later - at
    out["bot's work and queueing"] = line["answered"] - sum(out.values())
    return {k: round(v, 4) for k, v in out.items()}


def tail(split: dict[int, dict[str, float]], latencies: dict[int, float]) -> dict[str, Any]:
    """Over the slowest 5 %: mean seconds per cause, and how many had each as the largest
    share; and how many questions at all waited on a getUpdates 429, and how long."""
    if not split:
        return {}
    order = sorted(split, key=lambda q: latencies[q])
    slow = order[int(len(order) * 0.95) :]
    main = Counter(max(split[q], key=lambda k: split[q][k]) for q in slow)
    held = [q for q in order if split[q]["getUpdates 429"] > 0]
    return {
        "questions": len(slow),
        "from s": round(latencies[slow[0]], 3),
        "mean s by cause": {
            k: round(statistics.fmean(split[q][k] for q in slow), 3) for k in CAUSES
        },
        "largest cause (questions)": {k: main[k] for k in CAUSES if main[k]},
        "held by a getUpdates 429 (questions, mean s held)": [
            len(held),
            round(statistics.fmean(split[q]["getUpdates 429"] for q in held), 3) if held else 0,
        ],
    }


def poll_fault_effects(
    faults: list[tuple[float, float, str]],
    lines: dict[int, dict[str, Any]],
    pushed: dict[int, float],
    started: float,
) -> list[list[Any]]:
    """Each failed getUpdates: seconds after the start, its kind, how long nothing was
    fetched, and how many questions were waiting to be handed out meanwhile."""
    out = []
    for begin, end, kind in faults:
        held = sum(
            1 for q, line in lines.items()
            if pushed[q] < end and pushed[q] + line["handed out"] > begin
        )  # fmt: skip
        out.append([round(begin - started, 2), kind, round(end - begin, 3), held])
    return out


async def loop_lag(samples: list[float], every: float = 0.01) -> None:
    """Note how late the event loop wakes a task that asked to sleep ``every`` seconds: the
    wait each step of every answer (and the stand-in's every reply) has on top of its work."""
    while True:
        asked = time.monotonic() + every
        await asyncio.sleep(every)
        samples.append(time.monotonic() - asked)


def lag_summary(samples: list[float]) -> dict[str, float]:
    """The loop's lateness in ms: median, 95th percentile and worst."""
    if len(samples) < 2:
        return {}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50 ms": round(cuts[49] * 1000, 1), "p95 ms": round(cuts[94] * 1000, 1),
            "max ms": round(max(samples) * 1000, 1)}  # fmt: skip
