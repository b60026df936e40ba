"""Installation metadata of the gateway's devices: the inventory store, the CSV import, publishing.

The names below are the package's API; each lives in one module: store.py (fields, rules, the
SQLite file and its history), csv_import.py (CSV rows, all-or-nothing import), publish.py
(retained messages on the broker).
"""

from gateway.inventory.publish import PublishError, SyncReport, payload, sync, topic_leaf
from gateway.inventory.store import (
    INVENTORY_FILE,
    META_FIELDS,
    MIN_SAFE_HEIGHT_M,
    SUPPORTS,
    Change,
    Entry,
    Inventory,
    InventoryError,
    check_dev_eui,
    check_field,
    default_author,
    height_warning,
    registered_euis,
)

__all__ = [
    "INVENTORY_FILE",
    "META_FIELDS",
    "MIN_SAFE_HEIGHT_M",
    "SUPPORTS",
    "Change",
    "Entry",
    "Inventory",
    "InventoryError",
    "PublishError",
    "SyncReport",
    "check_dev_eui",
    "check_field",
    "default_author",
    "height_warning",
    "payload",
    "registered_euis",
    "sync",
    "topic_leaf",
]
