"""The gateway's durable reading buffer (SQLite, WAL). See docs/gateway-forward.md."""
