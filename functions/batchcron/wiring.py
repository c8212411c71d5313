"""Builds the objects each handler needs from settings (one place, lazily)."""

from __future__ import annotations

from batchcron.batch import Batch
from batchcron.catalogue import load_catalogue
from batchcron.dispatch import Dispatcher
from batchcron.settings import settings
from batchcron.store import RunStore
from batchcron.submit import Submitter


def store() -> RunStore:
    return RunStore(settings().runs_table)


def submitter(*, patient: bool = True) -> Submitter:
    """The submit path. The impatient one (webhook) leaves alerts it records pending for the
    next dispatcher tick, so a slow Slack never holds up GitHub's answer."""
    from batchcron import notify

    on_alert = notify.on_alert if patient else None
    return Submitter(store(), Batch(patient=patient), settings(), on_alert=on_alert)


def dispatcher() -> Dispatcher:
    from batchcron import notify

    return Dispatcher(
        load_catalogue(),
        store(),
        submitter(),
        deliver_alert=notify.deliver,
        workers=settings().dispatch_workers,
    )
