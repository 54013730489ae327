"""A candidate's warnings are collected per thread (the local cloud trains a Map's candidates as threads of one
process), every occurrence, without printing them; and what they and its score say flag the candidate."""

from __future__ import annotations

import threading
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning

from slipway.domain.fit_warnings import CaughtWarning, caught_warnings, warning_texts
from slipway.domain.training import candidate_flags


def test_overlapping_collections_in_two_threads_keep_their_own_warnings_and_restore_the_state() -> None:
    # GIVEN the process's warning state, and two threads whose collections overlap (A starts first, ends first)
    filters, show = list(warnings.filters), warnings.showwarning
    both_in, a_out = threading.Barrier(2), threading.Event()
    caught: dict[str, list[str]] = {}

    def a() -> None:
        with caught_warnings() as mine:
            both_in.wait()
            warnings.warn("a: lbfgs failed to converge", ConvergenceWarning, stacklevel=1)
        caught["a"] = [w.text for w in mine]
        a_out.set()

    def b() -> None:
        with caught_warnings() as mine:
            both_in.wait()
            warnings.warn("b: overflow", RuntimeWarning, stacklevel=1)
            a_out.wait()
            warnings.warn("b: overflow", RuntimeWarning, stacklevel=1)  # the same place again, after A left
        caught["b"] = [w.text for w in mine]

    # WHEN both run
    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # THEN each holds only its own warnings, every occurrence
    assert caught == {
        "a": ["ConvergenceWarning: a: lbfgs failed to converge"],
        "b": ["RuntimeWarning: b: overflow", "RuntimeWarning: b: overflow"],
    }
    # AND the process's warning state is as it was
    assert (warnings.filters, warnings.showwarning) == (filters, show)


def test_another_threads_warning_during_a_collection_goes_where_it_went_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the process shows warnings through its own showwarning, and a thread collecting its warnings
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *args, **kwargs: shown.append(str(message)))
    inside, done = threading.Event(), threading.Event()

    def collect() -> None:
        with caught_warnings():
            inside.set()
            done.wait(timeout=30)

    thread = threading.Thread(target=collect)
    thread.start()
    inside.wait(timeout=30)

    # WHEN this thread (not collecting) warns meanwhile
    warnings.warn("not a candidate's", UserWarning, stacklevel=1)
    done.set()
    thread.join(timeout=30)

    # THEN the warning reached the process's showwarning, not the collection
    assert shown == ["not a candidate's"]


def test_texts_are_one_line_distinct_and_bounded() -> None:
    caught = [CaughtWarning(ConvergenceWarning, "lbfgs failed\n  to converge")] * 3
    caught += [CaughtWarning(RuntimeWarning, "x" * 1000)]
    texts = warning_texts(caught)
    assert texts[0] == "ConvergenceWarning: lbfgs failed to converge"
    assert len(texts) == 2 and len(texts[1]) == 500 and texts[1].endswith("…")


@pytest.mark.parametrize(
    ("task", "metrics", "categories", "flags"),
    [
        ("classification", {"roc_auc": 0.82}, [], []),
        ("classification", {"roc_auc": 0.291}, [], ["below_chance"]),
        ("classification", {"roc_auc": None}, [UndefinedMetricWarning], []),
        ("classification", {"roc_auc": 0.7}, [ConvergenceWarning], ["not_converged"]),
        ("regression", {"r2": -0.2}, [RuntimeWarning], ["numerical_warning", "below_chance"]),
        ("regression", {"r2": 0.4}, [ConvergenceWarning, RuntimeWarning], ["not_converged", "numerical_warning"]),
    ],
)
def test_candidate_flags(
    task: str, metrics: dict[str, float | None], categories: list[type[Warning]], flags: list[str]
) -> None:
    caught = [CaughtWarning(c, "text") for c in categories]
    assert candidate_flags(task, metrics, caught) == flags
