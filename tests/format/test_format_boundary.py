"""No record is built or parsed outside the format module.

`tb_lr_plugin/event_format.py` defines every record; the writer hands it
typed documents and chunks through `writer/event_sink.py`, the reader gets
them back through `plugin/run_data.py`, and nothing else touches bytes,
JSON of records, tags or metadata. These checks read the source (no import).
"""

from __future__ import annotations

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tb_lr_plugin"
FRONTEND = PACKAGE.parent / "frontend" / "src"
FORMAT_MODULE = "event_format.py"
# The one writer and the one reader of records.
RECORD_IO = {"writer/event_sink.py", "plugin/run_data.py"}
# Encoders of what is not a record: HTTP bodies (JSON with the format's sanitiser,
# arrays packed as base64), TF_CONFIG.
OTHER_ENCODERS = {"plugin/json_encoding.py": {"json", "base64"}, "writer/distribution.py": {"json"}}

ENCODING_MODULES = {"json", "struct", "zlib", "base64", "pickle", "marshal"}
BYTE_LEVEL_CALLS = {"frombuffer", "tobytes", "unpack_from", "SummaryMetadata", "crc32"}
RECORD_CODECS = {
    "encode_chunk",
    "decode_chunk",
    "encode_document",
    "decode_assignment",
    "decode_schedule_config",
    "create_metadata",
    "parse_metadata",
    "tag_for",
    "name_of",
}


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != FORMAT_MODULE
    }


def test_the_checks_see_the_whole_package():
    modules = _modules()
    assert set(modules) >= RECORD_IO | set(OTHER_ENCODERS)
    assert len(modules) > 25


def test_only_the_format_module_imports_encoders():
    found = []
    for relative, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported = {(node.module or "").split(".")[0]}
            else:
                continue
            forbidden = ENCODING_MODULES - OTHER_ENCODERS.get(relative, set())
            found += [f"{relative}:{node.lineno} {name}" for name in sorted(imported & forbidden)]
    assert found == []


def _attributes(names: set[str], outside: set[str] = frozenset()) -> list[str]:
    """Where an attribute in `names` is used, in modules other than `outside`."""
    return [
        f"{relative}:{node.lineno} {node.attr}"
        for relative, tree in _modules().items()
        if relative not in outside
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in names
    ]


def test_no_module_handles_bytes_or_metadata_of_records():
    assert _attributes(BYTE_LEVEL_CALLS) == []


def test_records_are_encoded_and_decoded_only_where_they_are_written_and_read():
    assert _attributes(RECORD_CODECS, outside=RECORD_IO) == []


def test_no_module_spells_a_tag_or_a_version_1_source_phrase():
    found = [
        f"{relative}:{node.lineno} {node.value!r}"
        for relative, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value.startswith(("tb_lr_plugin/", "callback ")) or node.value == "manual assign")
    ]
    assert found == []


def test_the_frontend_parses_no_source_strings():
    sources = {
        path.name: path.read_text()
        for path in FRONTEND.glob("*.js")  # Not vendor/.
    }
    assert "app.js" in sources
    for name, text in sources.items():
        assert not re.search(r"['\"`]callback ", text), name
        assert not re.search(r"source\??\.(startsWith|slice|split|match)\(", text), name
