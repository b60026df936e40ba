# Host-only firmware helpers (bundle building, deployment). Never listed in firmware/manifest.py.
