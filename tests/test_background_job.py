"""core/jobs/background.py: a worker's failure is one line for the user, its traceback in a log file."""

from __future__ import annotations

from neural_aesthetics.core.jobs.background import BackgroundJob


def test_a_bug_in_the_worker_is_one_line_naming_the_log_that_keeps_its_traceback(tmp_path):
    # A request the bake cannot read is a bug (not the user's to fix): the worker raises inside its job.
    state = BackgroundJob("bake", {"no such field": 1}, log_dir=tmp_path).wait(timeout_s=60)
    (log,) = tmp_path.glob("bake-*.log")
    assert state.status == "failed"
    assert "\n" not in state.message and str(log) in state.message
    text = log.read_text(encoding="utf-8")
    assert "bake job failed" in text and "Traceback (most recent call last)" in text and "KeyError" in text


def test_an_unreadable_job_is_one_line_and_each_job_has_a_log_of_its_own(tmp_path):
    # An unknown job kind: the worker says so and exits.
    first = BackgroundJob("no-such-job", {}, log_dir=tmp_path).wait(timeout_s=60)
    second = BackgroundJob("no-such-job", {}, log_dir=tmp_path).wait(timeout_s=60)
    logs = sorted(tmp_path.glob("no-such-job-*.log"))
    assert first.status == second.status == "failed" and len(logs) == 2
    assert "unreadable job" in first.message and str(logs[0]) in first.message + second.message
