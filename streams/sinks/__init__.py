"""Sinks: faust agents that write output topics to storage (and, later, deliver alerts)."""
