"""Progress bars in a log file: short whole lines, a bounded number of them (issue 18)."""

from __future__ import annotations

import io

from deployment.progress import LOG_COLUMNS, progress_bar


def test_a_bar_written_to_a_file_is_a_few_short_lines():
    log = io.StringIO()  # not a terminal, like a file or CI's pipe

    for _ in progress_bar(range(5000), desc="upload", unit="file", file=log):
        pass

    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 1 <= len(lines) <= 3  # the first draw and the final one, within the interval
    assert all(len(line) <= LOG_COLUMNS for line in lines)
    assert "5000/5000" in lines[-1]


def test_updates_by_hand_end_in_the_total_too():
    log = io.StringIO()

    with progress_bar(total=3, desc="copy", file=log) as bar:
        for _ in range(3):
            bar.update(1)

    assert log.getvalue().splitlines()[-1].startswith("copy: 100%")


def test_the_final_state_is_written_once():
    log = io.StringIO()

    with progress_bar(total=2, desc="apply", file=log, bar_format="{desc} {n}/{total}") as bar:
        bar.update(2)
        bar.refresh()  # drawn here, and drawn again by close()

    lines = log.getvalue().splitlines()
    assert len(lines) == len(set(lines)), lines
    assert lines == ["apply 0/2", "apply 2/2"]
