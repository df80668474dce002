"""The engine every processor and sink runs on: batches from Kafka, changelog-backed tables,
outputs in record batches, dead letters and one checkpoint order (see processor.py for how a
processor is written, checkpoint.py for the order, testing.py for running one without a broker).

It imports nothing from the processors, sinks, web views or the app.
"""
