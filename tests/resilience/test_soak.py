"""Soak test (issue 5): a few hundred submissions while the simulated DMP injects faults at random; zero lost, zero
duplicated, no dead letter. The same code gives the bench figures: ``python bench/soak.py --n 3000``."""

from __future__ import annotations

import pytest

from .soak import FAULTS, run_soak

pytestmark = pytest.mark.slow

N = 300


def test_soak_with_random_faults_loses_and_duplicates_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    report = run_soak(tmp_path_factory.mktemp("soak"), N, workers=8, fault_rate=0.25)
    print("\nsoak:\n" + report.text())

    assert report.answers[200] + report.answers[202] == N, report.answers  # every submission accepted
    assert report.lost == []
    assert report.duplicated == {} and report.unexpected == []
    assert report.records_per_document == {}
    assert report.dead == 0
    assert report.stored_once == N
    # the faults really happened, every kind of them, and the facade had to retry
    assert set(report.faults) == set(FAULTS), report.faults
    assert report.iti41_requests >= N + report.total_faults - report.faults["slow"]
    assert report.attempts > N
