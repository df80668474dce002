"""Stream processors: faust agents that turn input topics into output topics.

Each processor module pairs with a pure-logic module (no Kafka, unit-tested on its own):
contact_summary.py runs contact_lifecycle.py.
"""
