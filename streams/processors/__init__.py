"""Stream processors: faust tasks that turn input topics into output topics, batch by batch.

Each processor module pairs with a pure-logic module (no Kafka, unit-tested on its own):
contact_summary.py runs contact_lifecycle.py.
"""
