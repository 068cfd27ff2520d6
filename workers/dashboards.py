"""The dashboards' snapshot task (beat: hourly, see workers/beat.py).

Thin like every task here: it calls the service, which recomputes the last few
days and today from the database. Idempotent, so a duplicate or late delivery
only recomputes the same rows again."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from workers import enqueue
from workers.app import IDEMPOTENT, RETRY, app


@app.task(name=enqueue.TAKE_DAILY_SNAPSHOTS, soft_time_limit=540, time_limit=600, **RETRY, **IDEMPOTENT)
def take_daily_snapshots(lookback_days: int | None = None) -> dict[str, Any]:
    from qianbiao.dashboards.snapshots import DEFAULT_LOOKBACK_DAYS, snapshots_take

    days = DEFAULT_LOOKBACK_DAYS if lookback_days is None else lookback_days
    return asdict(snapshots_take(lookback_days=days))
