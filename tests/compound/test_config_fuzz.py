"""The config loader under hypothesis: whatever the sample config is mutated into (wrong types, unknown keys,
missing keys and files, broken references, bytes that are not YAML or not UTF-8), ``load_config`` either loads
it or raises ``ConfigError`` whose issues name the file and, below the top level, the key path; never another
exception."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.config import ConfigError, load_config
from tests.conftest import ROOT

CONFIGS = ROOT / "configs"
FILES = ("compound.yaml", "devices.yaml", "grids.yaml", "people.yaml", "households.yaml")
SAMPLE = {name: yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8")) for name in FILES}
FUZZ = settings(
    max_examples=int(os.environ.get("COMPOUND_FUZZ_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Bounded and derandomized (the same examples every run); ``COMPOUND_FUZZ_EXAMPLES`` widens the search."""

Key = str | int
Path_ = tuple[Key, ...]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["p-nobody", "b9", "u9", "mg-b9-u1", "", "  ", "25:99", "Mars/Olympus", "-1", "1e309"]),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


PATHS = {name: list(_paths(data)) for name, data in SAMPLE.items()}


def _parent(data: Any, path: Path_) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def _mutate(data: Any, path: Path_, op: str, value: Any, key: str) -> Any:
    """Apply one mutation at ``path``; return the new document (the whole one when ``path`` is empty)."""
    if not path:
        return value if op == "replace" else data
    parent, last = _parent(data, path), path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "unknown_key" and isinstance(parent[last], dict):
        parent[last][key] = value
    elif op == "unknown_key":
        parent[last] = {key: value}
    return data


@contextmanager
def _config_copy() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="config-fuzz-") as tmp:
        root = Path(tmp)
        for name in FILES:
            shutil.copy(CONFIGS / name, root / name)
        yield root


def _loads_or_names_the_problem(root: Path, *, below_top_level: bool) -> None:
    try:
        load_config(root)
    except ConfigError as exc:
        assert exc.issues, "a ConfigError lists its issues"
        for issue in exc.issues:
            assert issue.file in FILES or issue.file == str(root), issue
            assert issue.file in str(exc)
        if below_top_level:
            assert any(issue.path for issue in exc.issues), f"no key path in {exc}"


def _dump(data: Any) -> str:
    def plain(node: Any) -> Any:  # safe_dump writes dates, not subclasses; hypothesis gives plain ones anyway
        return node.isoformat() if isinstance(node, datetime | date) and type(node) not in (datetime, date) else node

    return yaml.safe_dump(plain(data), allow_unicode=True, sort_keys=False)


@FUZZ
@given(
    file=st.sampled_from(FILES),
    pick=st.integers(min_value=0),
    op=st.sampled_from(["replace", "delete", "unknown_key"]),
    value=values,
    key=st.text(min_size=1, max_size=12),
)
def test_mutated_yaml_is_loaded_or_refused_with_file_and_key_path(
    file: str, pick: int, op: str, value: Any, key: str
) -> None:
    """Test that a sample file with one node replaced (any YAML value), deleted, or given an unknown key either
    loads or is refused with a ConfigError naming the file and the key path."""
    paths = PATHS[file]
    path = paths[pick % len(paths)]
    data = _mutate(copy.deepcopy(SAMPLE[file]), path, op, value, key)
    with _config_copy() as root:
        (root / file).write_text(_dump(data), encoding="utf-8")
        _loads_or_names_the_problem(root, below_top_level=bool(path))


@FUZZ
@given(file=st.sampled_from(FILES), content=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_naming_the_file(file: str, content: bytes) -> None:
    """Test that a file of arbitrary bytes (not UTF-8, not YAML, or YAML of the wrong shape) is refused with a
    ConfigError naming it, or loads if it happens to be acceptable (an empty households file)."""
    with _config_copy() as root:
        (root / file).write_bytes(content)
        _loads_or_names_the_problem(root, below_top_level=False)


@FUZZ
@given(file=st.sampled_from(FILES), cut=st.floats(min_value=0, max_value=1), junk=st.text(max_size=10))
def test_truncated_or_spliced_yaml_is_refused_naming_the_file(file: str, cut: float, junk: str) -> None:
    """Test that a sample file cut short, with random text spliced in at the cut, loads or is refused with a
    ConfigError naming the file."""
    text = (CONFIGS / file).read_text(encoding="utf-8")
    at = int(len(text) * cut)
    with _config_copy() as root:
        (root / file).write_text(text[:at] + junk, encoding="utf-8")
        _loads_or_names_the_problem(root, below_top_level=False)


@FUZZ
@given(missing=st.sets(st.sampled_from(FILES), min_size=1))
def test_missing_files_are_each_named(missing: set[str]) -> None:
    """Test that every missing required file is named; households.yaml alone may be missing."""
    with _config_copy() as root:
        for name in missing:
            (root / name).unlink()
        if missing == {"households.yaml"}:
            load_config(root)
            return
        with pytest.raises(ConfigError) as exc:
            load_config(root)
        named = {issue.file for issue in exc.value.issues if "missing" in issue.message}
        assert named == missing - {"households.yaml"}


def test_a_file_that_is_a_directory_is_refused() -> None:
    """Test that a config 'file' that is a directory is refused naming it."""
    with _config_copy() as root:
        (root / "grids.yaml").unlink()
        (root / "grids.yaml").mkdir()
        with pytest.raises(ConfigError, match=r"grids\.yaml"):
            load_config(root)


def test_non_utf8_file_is_refused_naming_it() -> None:
    """Test (found by fuzzing: UnicodeDecodeError escaped the loader) that a file that is not UTF-8 is refused
    with a ConfigError naming the file and the byte offset."""
    with _config_copy() as root:
        (root / "people.yaml").write_bytes(b"people:\n  - id: p-\xff\xfe\n")
        with pytest.raises(ConfigError) as exc:
            load_config(root)
        found = [(i.file, i.path, i.message) for i in exc.value.issues if "UTF-8" in i.message]
        assert found == [("people.yaml", "line 2", "not UTF-8 text: byte 18 is 0xff")]
