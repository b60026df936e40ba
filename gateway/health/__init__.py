"""Gateway health: status and last will, periodic metrics, alerts, buffer quota and age."""
