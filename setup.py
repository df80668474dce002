"""The C codec is the only thing pyproject.toml cannot declare: an optional extension, so that an
install without a C compiler still works (on the compiled Python codec, see
streams/codec/native.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("streams.codec._native", ["streams/codec/_native.c"], optional=True)])
