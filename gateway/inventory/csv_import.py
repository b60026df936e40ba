"""Devices from a CSV file: keys for the registry and metadata for the inventory, all or nothing.

Every row is checked before anything is stored; one bad row imports nothing (CsvError names its
line and never echoes a key). Columns: dev_eui, activation (abp, otaa, or empty for a device
already registered), the key columns of that activation, and the metadata fields.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.inventory.store import META_FIELDS, InventoryError, check_dev_eui, check_field, height_warning


class CsvError(InventoryError):
    """A CSV file that cannot be imported; the message names the line and the fix."""


KEY_COLUMNS = {"abp": ("dev_addr", "nwkskey", "appskey"), "otaa": ("join_eui", "app_key")}
HEX_BYTES = {"dev_addr": 4, "nwkskey": 16, "appskey": 16, "join_eui": 8, "app_key": 16}


@dataclass
class Row:
    line: int
    dev_eui: str
    activation: str  # "abp", "otaa", or "" for a device already registered (metadata only)
    keys: dict[str, str] = field(repr=False)
    meta: dict[str, Any]


def _hex(value: str, column: str, line: int) -> str:
    """A key or address column; its value is never echoed (it may be a key)."""
    v = value.strip().lower()
    n = HEX_BYTES[column]
    if len(v) != 2 * n or any(c not in "0123456789abcdef" for c in v):
        raise CsvError("line %d: %s must be %d hex digits" % (line, column, 2 * n))
    return v


def read_rows(path: Path, registered: set[str]) -> tuple[list[Row], list[str]]:
    """Parse and validate a whole CSV file; the first bad row raises with its line number."""
    columns = ("dev_eui", "activation", *HEX_BYTES, *META_FIELDS)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise CsvError("cannot read %s: %s" % (path, e.strerror)) from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in columns]
    if unknown or "dev_eui" not in header:
        problem = "unknown column %r" % unknown[0] if unknown else "no dev_eui column"
        raise CsvError("line 1 of %s: %s; columns are: %s" % (path, problem, ", ".join(columns)))
    rows: list[Row] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw:
            raise CsvError("line %d: more fields than the %d columns of the header" % (line, len(header)))
        cell = {k: (v or "").strip() for k, v in raw.items()}
        try:
            eui = check_dev_eui(cell["dev_eui"])
            meta = {k: check_field(k, _photo_paths(cell[k], path)) if k == "photos" else check_field(k, cell[k])
                    for k in META_FIELDS if cell.get(k)}  # fmt: skip
        except InventoryError as e:
            raise CsvError("line %d: %s" % (line, e)) from None
        if eui in seen:
            raise CsvError("line %d: DevEUI %s is already on line %d: keep one row per device" % (line, eui, seen[eui]))
        seen[eui] = line
        mode = cell.get("activation", "").lower()
        if mode and mode not in KEY_COLUMNS:
            raise CsvError("line %d: activation %r must be abp, otaa, or empty for a registered device" % (line, mode))
        if mode and eui in registered:
            raise CsvError("line %d: device %s is already registered: leave activation and keys empty to update its "
                         "metadata only, or remove it first" % (line, eui))  # fmt: skip
        if not mode and eui not in registered:
            raise CsvError(
                "line %d: device %s is not registered: fill activation (abp or otaa) and its keys" % (line, eui)
            )
        keys = {c: _hex(cell.get(c, ""), c, line) for c in KEY_COLUMNS.get(mode, ())}
        warning = height_warning(meta.get("height_m"))
        if warning:
            warnings.append("line %d: %s" % (line, warning))
        rows.append(Row(line, eui, mode, keys, meta))
    if not rows:
        raise CsvError("%s has no rows below its header" % path)
    return rows, warnings


def _photo_paths(cell: str, csv_path: Path) -> list[str]:
    """Photos separated by ';', relative to the CSV file's directory."""
    return [str(csv_path.parent / p.strip()) for p in cell.split(";") if p.strip()]


def import_rows(rows: list[Row], reg: Any, inv: Any, author: str) -> tuple[int, list[Any]]:
    """Register the new devices, then store all metadata in one transaction. When anything fails,
    the devices registered by this import are removed again: nothing is imported."""
    from gateway.registry import RegistryError

    added: list[str] = []
    where = "%s" % rows[0].line
    try:
        for r in rows:
            where = "line %d" % r.line
            if r.activation == "abp":
                k = r.keys
                reg.add_abp(r.dev_eui, k["dev_addr"], bytes.fromhex(k["nwkskey"]), bytes.fromhex(k["appskey"]))
                added.append(r.dev_eui)
            elif r.activation == "otaa":
                reg.add_otaa(r.dev_eui, r.keys["join_eui"], bytes.fromhex(r.keys["app_key"]))
                added.append(r.dev_eui)
        where = "metadata"
        changes = inv.set_many([(r.dev_eui, r.meta) for r in rows if r.meta], author)
    except (RegistryError, InventoryError) as e:
        for eui in added:
            reg.remove(eui)
        raise CsvError("%s: %s; nothing was imported" % (where, e)) from None
    return len(added), changes
