"""The catalog cache (recommender/catalog/load.py) when it cannot help (issue 18): a cache
directory that cannot be created or written, a cache file that is garbage or is a directory,
and a rebuild that fails. Each time the answer is the catalog the data files hold (or one clear
error), and no corrupt or half-written cache file is left behind.

Each test loads a private copy of the shipped data directory (the in-process memo is keyed on
the directory, so every copy is read through the cache path afresh).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from recommender.catalog import load as L
from recommender.errors import DataError


@pytest.fixture
def data(tmp_path) -> Path:
    copy = tmp_path / "data"
    copy.mkdir()
    for name in L._FILES:
        shutil.copy2(L.default_data_dir() / name, copy / name)
    return copy


def _frames(catalog) -> list[pd.DataFrame]:
    return [catalog.offers, catalog.regions, catalog.gpus, catalog.region_intensity]


def _same(a, b) -> None:
    for x, y in zip(_frames(a), _frames(b), strict=True):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))
    assert a.meta == b.meta


def _uncached(directory: Path):
    """The catalog straight from the files (what every cached answer must equal)."""
    return L._load_and_validate(directory)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".catalog-*")) if directory.is_dir() else []


def _load(directory: Path):
    L._CACHE.pop(directory.resolve(), None)  # read through the cache path, not the memo
    return L.load_catalog(directory)


def test_a_cache_is_written_once_and_read_back_equal(data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    first = _load(data)
    [written] = list(cache.glob("catalog-*.npz"))
    assert L._read_cached(written) is not None
    _same(L._read_cached(written), _uncached(data))
    _same(_load(data), first)
    assert _leftovers(cache) == []


@pytest.mark.parametrize("kind", ["a-file", "under-a-file"])
def test_a_cache_directory_that_cannot_be_created_still_answers(data, tmp_path, monkeypatch, kind):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    cache = blocker if kind == "a-file" else blocker / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    _same(_load(data), _uncached(data))
    assert blocker.read_text() == "not a directory"  # untouched
    _same(_load(data), _uncached(data))  # and again: nothing half-written is read


def test_a_cache_file_that_cannot_be_replaced_still_answers(data, tmp_path, monkeypatch):
    """The cache file's name is taken by a directory: the rename fails; the temporary file is
    removed and the answer is the data's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    target = L._cache_file(data.resolve())
    assert target is not None
    target.mkdir(parents=True)
    (target / "keep").write_text("x")
    _same(_load(data), _uncached(data))
    assert target.is_dir() and (target / "keep").read_text() == "x"
    assert _leftovers(cache) == []


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"PK\x03\x04 truncated zip"],
    ids=["empty", "garbage", "truncated-zip"],
)
def test_a_corrupt_cache_file_is_rebuilt_and_replaced(data, tmp_path, monkeypatch, content):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    target = L._cache_file(data.resolve())
    assert target is not None
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    _same(_load(data), _uncached(data))
    rebuilt = L._read_cached(target)  # replaced by a whole, readable one
    assert rebuilt is not None
    _same(rebuilt, _uncached(data))
    assert _leftovers(cache) == []


def test_a_cache_file_of_another_catalog_is_not_read(data, tmp_path, monkeypatch):
    """An edited data file changes the cache key: the old cache file is never read for it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    _load(data)
    gpus = pd.read_csv(data / "gpus.csv", dtype=str, keep_default_na=False)
    gpus.loc[0, "tdp_w"] = str(float(gpus.loc[0, "tdp_w"]) + 1)
    gpus.to_csv(data / "gpus.csv", index=False)
    edited = _load(data)
    assert float(edited.gpus.loc[0, "tdp_w"]) == float(gpus.loc[0, "tdp_w"])
    assert len(list(cache.glob("catalog-*.npz"))) == 2


def test_a_failed_rebuild_is_one_data_error_and_writes_no_cache(data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache))
    offers = (data / "offers.csv").read_text(encoding="utf-8").splitlines()
    (data / "offers.csv").write_text(offers[0] + "\n" + "x,y\n", encoding="utf-8")
    with pytest.raises(DataError):
        _load(data)
    assert list(cache.glob("catalog-*")) == [] and _leftovers(cache) == []
    # a missing file too
    (data / "offers.csv").unlink()
    with pytest.raises(DataError, match=r"offers\.csv"):
        _load(data)
    assert list(cache.glob("catalog-*")) == []


def test_a_failed_rebuild_in_the_cli_is_one_error_line(cli, data, tmp_path, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CARBONPLAN_DATA_DIR", str(data))
    (data / "gpus.csv").write_text("gpu\nA100\n", encoding="utf-8")
    result = cli("suggest", "--gpu-hours", "10")
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: ") and "gpus.csv" in lines[0]
    assert lines[1].startswith("hint: ") and "Traceback" not in result.err
    assert list((tmp_path / "cache").glob("catalog-*")) == []
