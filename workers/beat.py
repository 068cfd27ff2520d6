"""Beat's schedule: the periodic sweeps that re-derive outstanding work from the
database, so that a lost message costs a period, never data. Task names come from
``workers.enqueue``; periods from the settings (environment)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from workers import enqueue


def beat_schedule() -> dict[str, dict[str, Any]]:
    sweep_s = settings.QIANBIAO_SWEEP_SECONDS
    # A sweep older than its period is useless (the next is on its way), so it
    # expires rather than piling up while workers are down.
    every_sweep = {"schedule": sweep_s, "options": {"expires": sweep_s}}
    return {
        # Revoke work of leavers and paused annotators, expire overdue work, and
        # enqueue distribution for every active project with work and room.
        "sweep": {"task": enqueue.SWEEP, **every_sweep},
        # Re-derive each item's cached state from its assignments (a safety net).
        "reconcile-items": {"task": enqueue.RECONCILE_ITEMS, "schedule": settings.QIANBIAO_RECONCILE_SECONDS},
        # Label Studio: push every project's unpushed open assignments, withdraw tasks
        # of ended ones, deactivate leavers, ingest recorded webhooks.
        "label-studio-push-sweep": {"task": enqueue.LABEL_STUDIO_SWEEP, **every_sweep},
        # Label Studio: annotations the webhook missed (made, edited or deleted on open
        # and recently submitted work) come back through the export.
        "label-studio-reconcile": {
            "task": enqueue.RECONCILE_LABEL_STUDIO,
            "schedule": settings.LABEL_STUDIO_RECONCILE_SECONDS,
            "options": {"expires": 600},
        },
        # Dashboards' daily snapshots: hourly, so that "today" is at most an hour old;
        # each run recomputes the last few days, so a late-recorded leaver is caught.
        "take-daily-snapshots": {
            "task": enqueue.TAKE_DAILY_SNAPSHOTS,
            "schedule": settings.QIANBIAO_SNAPSHOT_SECONDS,
            "options": {"expires": 3000},
        },
        # Quality control decides every ready item of each active project in one batch.
        "quality-sweep": {"task": enqueue.QUALITY_SWEEP, **every_sweep},
        # Enterprise callbacks: find results.ready / project.completed events in the
        # database, resend overdue deliveries, purge old idempotency records.
        "callbacks-sweep": {"task": enqueue.CALLBACKS_SWEEP, **every_sweep},
    }
