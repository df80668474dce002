"""Coverage-guided fuzzing of the C decoder (streams/codec/_native.c) with atheris (libFuzzer),
the extension built with AddressSanitizer and UndefinedBehaviorSanitizer (tests/fuzz/run builds
it and runs this; `make fuzz`).

An input picks a schema of schemas/ (first byte) and a decoder (second byte: to a dict, or to a
row of columns); the rest is the Avro body. The C decoder must never crash, read out of bounds or
hit undefined behaviour (the sanitizers abort), and it is differential:

- against the compiled Python decoder (compiled.py), the reference it replaces: the same record
  and end, or both refuse;
- against fastavro: a record the C decoder accepts, fastavro decodes from the same bytes to the
  same record (repr: NaN is not equal to itself).

    python tests/fuzz/fuzz_codec.py SANITIZED_SO CORPUS_DIR [libFuzzer flags]
    python tests/fuzz/fuzz_codec.py --seed-corpus CORPUS_DIR   (valid records of every schema)
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CORRUPT = (IndexError, KeyError, ValueError, UnicodeDecodeError, struct.error, OverflowError)


def load_sanitized(path: str) -> None:
    """Put the sanitized build in place of streams.codec._native before anything imports it."""
    spec = importlib.util.spec_from_file_location("streams.codec._native", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["streams.codec._native"] = module
    spec.loader.exec_module(module)


def targets() -> list[tuple[str, dict[str, Any], Any]]:
    """(name, definition without logical types, fastavro's parsed schema) of every schema."""
    import fastavro

    from streams.codec.registry import load_registry, strip_logical_types

    registry = load_registry(REPO / "schemas")
    versions = sorted([*registry.current.values(), *registry.history], key=lambda v: str(v.source))
    out = []
    for v in versions:
        definition = strip_logical_types(v.definition)
        out.append((str(v.source.relative_to(REPO)), definition, fastavro.parse_schema(definition)))
    return out


def seed_corpus(directory: Path) -> int:
    """Valid encodings of records of every schema, from the codec tests' generator."""
    from streams.codec.compiled import compile_encoder
    from tests.test_codec_compiled import Random

    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, (_, definition, _) in enumerate(targets()):
        encode, gen = compile_encoder(definition), Random(i)
        for j in range(3):
            (directory / f"seed-{i:02d}-{j}").write_bytes(bytes([i, j % 2]) + encode(gen.value(definition)))
            n += 1
    return n


def _broken(reference: Any) -> Any:
    def decode(data: bytes, start: int) -> tuple[dict[str, Any], int]:
        record, end = reference(data, start)
        return {**record, next(iter(record)): "not what the bytes say"}, end
    return decode


def main() -> None:
    if sys.argv[1] == "--seed-corpus":
        print(f"{seed_corpus(Path(sys.argv[2]))} seeds in {sys.argv[2]}")
        return
    load_sanitized(sys.argv.pop(1))
    import atheris
    import fastavro

    from streams.codec.compiled import compile_decoder
    from streams.codec.native import native_decoder

    readers = []
    for name, definition, parsed in targets():
        columns = tuple(f["name"] for f in definition["fields"])
        readers.append((name, native_decoder(definition), native_decoder(definition, columns), columns,
                        compile_decoder(definition), parsed))

    if os.environ.get("FUZZ_BREAK_REFERENCE"):  # the harness's own test: a reference that is wrong
        readers = [(n, a, r, c, _broken(ref), p) for n, a, r, c, ref, p in readers]

    def one_input(data: bytes) -> None:
        if len(data) < 2:
            return
        name, as_dict, as_row, columns, reference, parsed = readers[data[0] % len(readers)]
        body = data[2:]
        try:
            if data[1] % 2:
                values, end = as_row(body, 0)
                got: Any = dict(zip(columns, values))
            else:
                got, end = as_dict(body, 0)
        except CORRUPT as exc:
            try:
                reference(body, 0)
            except CORRUPT:
                return
            raise AssertionError(f"{name}: the C decoder refused what the Python one reads ({exc!r})") from None
        want, want_end = reference(body, 0)
        if (repr(got), end) != (repr(want), want_end):
            raise AssertionError(f"{name}: C {got!r} to {end}, Python {want!r} to {want_end}")
        if repr(fastavro.schemaless_reader(io.BytesIO(body[:end]), parsed, None)) != repr(got):
            raise AssertionError(f"{name}: fastavro reads something else from the same bytes")

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
