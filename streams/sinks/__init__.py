"""Sinks: faust tasks that write output topics to storage (and, later, deliver alerts)."""
