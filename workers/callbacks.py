"""Callback tasks: deliver one signed event (retried with backoff), and the
periodic sweep that finds new events and re-sends deliveries whose message was
lost. The database row is the state; these tasks only move it along."""

from __future__ import annotations

from workers import enqueue
from workers.app import IDEMPOTENT, app


# Its own retries (not the shared policy): the delivery row holds the next attempt's
# time, with the endpoint's backoff; max_retries=None because the row decides when to stop.
@app.task(name=enqueue.CALLBACK_DELIVER, bind=True, max_retries=None, **IDEMPOTENT)
def callback_deliver(self, delivery_id: int) -> str:
    from qianbiao.api.callbacks import callback_delivery_attempt

    outcome = callback_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        # The row already holds the next attempt's time; this retry is the fast
        # path, the sweep the safety net.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@app.task(name=enqueue.CALLBACKS_SWEEP, soft_time_limit=240, time_limit=300, **IDEMPOTENT)
def callbacks_sweep() -> dict[str, int]:
    """Run every minute or so (beat): scan for events, re-send overdue deliveries."""
    from qianbiao.api.callbacks import (
        callback_deliveries_overdue,
        callbacks_scan,
    )
    from qianbiao.api.idempotency import idempotency_records_purge

    created = callbacks_scan()
    overdue = callback_deliveries_overdue()
    enqueue.callback_deliver(overdue)
    purged = idempotency_records_purge()
    return {"created": created, "resent": len(overdue), "idempotency_purged": purged}
