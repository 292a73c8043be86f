"""Every error onfs-push raises, one hierarchy under `OnfsError`, by stage:

```
OnfsError
├── MetadataError      the metadata service could not be asked, or its answer is unusable
├── PlanError          the metadata makes no plan (e.g. an unknown feature group)
├── SourceError        a source cannot be read as the plan needs it (also a ValueError)
├── EncodeError        a row cannot be encoded (a missing column, a null, a value outside its type)
│   └── StoreError     the online store would drop rows (vector lengths, types it cannot keep)
├── DeliveryError      messages were sent but not all delivered (`.report` holds the counts)
├── KafkaError         Kafka cannot be reached, the topic is missing, a send failed
├── UsageError         a bad argument or option (also a ValueError)
├── VerifyError        the store does not hold what was sent (`.report` holds the comparison)
├── StoreReadError     the store's retrieval API could not be read
└── StateError         the push ledger (`state=`) cannot be locked, read or written
```

The classes raised by the Rust extension are the extension's own (`onfs_push._onfs.EncodeError`
is `onfs_push.errors.EncodeError`); each is also importable from `onfs_push`. Errors raised in a
Spark executor reach the driver as the same class with the executor's message (see
`onfs_push.spark`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Type

from ._onfs import (
    EncodeError,
    KafkaError,
    MetadataError,
    OnfsError,
    PlanError,
    StateError,
    StoreError,
    StoreReadError,
)

__all__ = [
    "DeliveryError",
    "EncodeError",
    "KafkaError",
    "MetadataError",
    "OnfsError",
    "PlanError",
    "SourceError",
    "StateError",
    "StoreError",
    "StoreReadError",
    "UsageError",
    "VerifyError",
    "error_class",
]


class UsageError(OnfsError, ValueError):
    """A bad argument or option (a negative size, an unknown engine or Kafka option, a malformed
    address); a `ValueError` too. Raised before anything is read or sent."""


class SourceError(OnfsError, ValueError):
    """A source cannot be read as the plan needs it; the message names the source. A
    `ValueError` too, as before it joined the hierarchy."""


class DeliveryError(OnfsError):
    """Some messages were not delivered. `report` holds the counts (`messages`, `delivered`,
    `failed`, `unsent`, `first_error` ...)."""

    def __init__(self, report: Mapping[str, Any]):
        self.report = dict(report)
        failed = self.report.get("failed", 0) + self.report.get("unsent", 0)
        super().__init__(
            f"{failed} of {self.report.get('messages', 0)} messages were not delivered "
            f"({self.report.get('failed_rows', 0) + self.report.get('unsent_rows', 0)} rows); "
            f"{self.report.get('unsent', 0)} were not sent after the first failure: "
            f"{self.report.get('first_error') or 'no delivery report'}"
        )


class VerifyError(OnfsError):
    """The store does not hold what was sent: values differ, or came back as the defaults (lost,
    or not consumed within `wait`). `report` holds the comparison (`totals`, `groups` with
    examples)."""

    def __init__(self, report: Mapping[str, Any]):
        self.report = dict(report)
        t = self.report.get("totals", {})
        super().__init__(
            f"the store does not hold what was sent: {t.get('differs', 0)} of {t.get('checked', 0)} "
            f"entity-groups differ, {t.get('defaults', 0)} came back as the defaults"
        )


# The classes an error can be carried as, by name, from a Spark executor to the driver: those
# made from a message alone (not DeliveryError and VerifyError, made from a report).
_BY_NAME = {
    cls.__name__: cls
    for cls in (OnfsError, MetadataError, PlanError, SourceError, EncodeError, StoreError, KafkaError,
                UsageError, StoreReadError, StateError)
}


def error_class(name: Optional[str]) -> Type[OnfsError]:
    """The class of the hierarchy named `name` (as `type(e).__name__` gives it); `OnfsError`
    for any other name."""
    return _BY_NAME.get(name or "", OnfsError)
