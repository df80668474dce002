"""The C parts are the only thing pyproject.toml cannot declare: optional extensions, so that an
install without a C compiler still works (on the compiled Python codec, see
streams/codec/native.py, and the Python murmur2 of streams/engine/producer.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("streams.codec._native", ["streams/codec/_native.c"], optional=True),
                   Extension("streams.engine._partition", ["streams/engine/_partition.c"], optional=True)])
