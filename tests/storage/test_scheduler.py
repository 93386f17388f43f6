"""The job store keeps the jobs and their next run times across a restart."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.scheduler import MISFIRE_GRACE_SECONDS, REPORT_MISFIRE_GRACE_SECONDS, build_scheduler


async def test_jobs_survive_a_restart_with_their_next_run_times(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    first = build_scheduler(settings)
    first.start(paused=True)
    planned = {job.id: job.next_run_time for job in first.get_jobs()}
    first.shutdown(wait=False)

    second = build_scheduler(settings)  # the same fixed ids replace, not duplicate, the jobs
    second.start(paused=True)
    jobs = second.get_jobs()
    second.shutdown(wait=False)
    ids = [job.id for job in jobs]
    assert len(ids) == len(set(ids)) and {"outbox", "sweep", "quarterly_report", "year_end_report"} <= set(ids)
    assert {job.id: job.next_run_time for job in jobs}["sweep"] >= planned["sweep"]
    assert {job.id: job.next_run_time for job in jobs}["quarterly_report"] == planned["quarterly_report"]
    assert all(job.coalesce for job in jobs)
    grace = {job.id: job.misfire_grace_time for job in jobs}
    assert grace["sweep"] == grace["outbox"] == MISFIRE_GRACE_SECONDS
    assert grace["quarterly_report"] == grace["year_end_report"] == REPORT_MISFIRE_GRACE_SECONDS
