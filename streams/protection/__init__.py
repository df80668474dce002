"""Subscriber protection's pure logic: text normalisation and features, the content model, block
lists, mass-mailing and campaign detection, complaints and verdicts. No Kafka in here: the
processors in streams/processors/ run these on the engine."""
