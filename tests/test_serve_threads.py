"""The service's split of CPU cores between its workers' llama.cpp servers (`serve.llm.worker_llm_params`)."""

from __future__ import annotations

import pytest
from helpers import params_with

from rap_analyzer.serve.llm import worker_llm_params


@pytest.mark.parametrize(("cores", "workers", "threads"), [
    (2, 2, 1),  # this project's CI machine, two workers: one core each
    (2, 1, 2),
    (16, 3, 5),  # 16 // 3: a remainder core stays free rather than two servers contending for it
    (1, 2, 1),  # fewer cores than workers: still one thread, never 0
    (8, 8, 1),
])
def test_every_core_is_split_between_the_workers(cores: int, workers: int, threads: int) -> None:
    llm = params_with({"llm_eval": {"n_threads": None}}).llm_eval
    assert worker_llm_params(llm, workers, cores).n_threads == threads


def test_a_set_thread_count_is_kept_whatever_the_workers() -> None:
    llm = params_with({"llm_eval": {"n_threads": 3}}).llm_eval
    assert worker_llm_params(llm, workers=2, cores=2).n_threads == 3


def test_nothing_but_the_thread_count_changes() -> None:
    llm = params_with({"llm_eval": {"n_threads": None}}).llm_eval
    split = worker_llm_params(llm, workers=2, cores=4)
    assert split.model_dump() == {**llm.model_dump(), "n_threads": 2} and llm.n_threads is None  # a copy
