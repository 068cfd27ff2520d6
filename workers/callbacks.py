"""Callback tasks: deliver one signed event (retried with backoff), and the
periodic sweep that finds new events and re-sends deliveries whose message was
lost. The database row is the state; these tasks only move it along."""

from __future__ import annotations

from workers.app import app


@app.task(name="qianbiao.callback_deliver", bind=True, acks_late=True, max_retries=None, ignore_result=True)
def callback_deliver(self, delivery_id: int) -> str:
    from qianbiao.api.callbacks import callback_delivery_attempt

    outcome = callback_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        # The row already holds the next attempt's time; this retry is the fast
        # path, the sweep the safety net.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@app.task(name="qianbiao.callbacks_sweep", ignore_result=True)
def callbacks_sweep() -> dict[str, int]:
    """Run every minute or so (beat): scan for events, re-send overdue deliveries."""
    from qianbiao.api.callbacks import (
        callback_deliveries_enqueue,
        callback_deliveries_overdue,
        callbacks_scan,
    )
    from qianbiao.api.idempotency import idempotency_records_purge

    created = callbacks_scan()
    overdue = callback_deliveries_overdue()
    callback_deliveries_enqueue(overdue)
    purged = idempotency_records_purge()
    return {"created": created, "resent": len(overdue), "idempotency_purged": purged}
