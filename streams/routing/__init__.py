"""Routing: the configuration and the engine that decides, with no I/O (config.py, engine.py)."""
