"""The load test's account of a question's latency (benchmarks/load_timeline.py): the seconds
it waited on a failed getUpdates or sendMessage are told apart from the bot's own work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from botapi import Call

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import load_timeline  # noqa: E402


def poll(at: float, status: int = 200) -> Call:
    return Call("getUpdates", {}, at, status)


def send(at: float, status: int = 200, chat_id: int = 7) -> Call:
    return Call("sendMessage", {"chat_id": chat_id, "text": "x"}, at, status)


CALLS = [poll(10.0), poll(11.0, 429), poll(12.0), poll(12.5, 502), poll(12.6)]
CALLS += [send(12.3, 503), send(12.4, 200, chat_id=8), send(12.5, 200)]
#: Pushed during the 429 (11.0 → 12.0), handed out when polling resumed, encoded, searched,
#: its first sendMessage failed (503) and the retry delivered it.
MARKS = {"pushed": 11.2, "dispatched": 12.05, "searching": 12.2, "searched": 12.25, "sent": 12.5}


def test_a_question_asked_during_a_poll_429_waits_it_out_and_its_retry_is_counted() -> None:
    faults = load_timeline.poll_faults(CALLS)
    assert faults == [(11.0, 12.0, "429"), (12.5, 12.6, "5xx")]
    sends = load_timeline.sends_by_chat(CALLS)[7]
    line = load_timeline.timeline(MARKS, 12.0, (12.1, 12.15), sends)
    assert line["handed out"] == pytest.approx(0.8)
    assert line["sendMessage"] == [[pytest.approx(1.1), 503], [pytest.approx(1.3), 200]]
    split = load_timeline.causes(line, faults, MARKS["pushed"])
    assert split["getUpdates 429"] == pytest.approx(0.8)  # 11.2 → 12.0, not the whole 1 s
    assert split["getUpdates 5xx"] == 0  # after it was handed out
    assert split["sendMessage 5xx"] == pytest.approx(0.2)
    assert split["sendMessage 429"] == 0
    assert split["bot's work and queueing"] == pytest.approx(0.3)
    assert sum(split.values()) == pytest.approx(1.3)  # the whole latency, nothing twice
    lines = {1: line}
    effects = load_timeline.poll_fault_effects(faults, lines, {1: 11.2}, 10.0)
    assert effects == [[1.0, "429", 1.0, 1], [2.5, "5xx", 0.1, 0]]


def test_the_tail_names_what_its_questions_waited_on_most() -> None:
    split = {q: dict.fromkeys(load_timeline.CAUSES, 0.0) for q in range(40)}
    for q in range(40):
        split[q]["bot's work and queueing"] = 0.1 + q / 100
    split[39]["getUpdates 429"] = 0.9  # the slowest question: held by a 429
    split[38]["sendMessage 5xx"] = 0.05  # slower than most, but its own work weighs more
    latencies = {q: sum(s.values()) for q, s in split.items()}
    tail = load_timeline.tail(split, latencies)
    assert tail["questions"] == 2
    assert tail["largest cause (questions)"] == {
        "getUpdates 429": 1, "bot's work and queueing": 1
    }  # fmt: skip
    assert tail["held by a getUpdates 429 (questions, mean s held)"] == [1, 0.9]
