"""The reliability suite's figures: each scenario records its :class:`fl_scenarios.Figures`,
and the session ends with one line per scenario (writers, saves, lost, duplicated, orphaned,
corrupted, refused) in the terminal summary, so CI output shows them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fl_scenarios import Figures

_FIGURES = pytest.StashKey[list[Figures]]()


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[Figures], Figures]:
    """Keep a scenario's figures for the summary; returns them."""
    def keep(figures: Figures) -> Figures:
        request.config.stash.setdefault(_FIGURES, []).append(figures)
        return figures
    return keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("reliability figures")
        for f in figures:
            terminalreporter.write_line(f.line())
