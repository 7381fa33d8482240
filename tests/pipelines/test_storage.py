"""Sweep storage on pyarrow filesystems: local paths, file:// URIs, a caller's filesystem."""
import pyarrow.fs as pafs
import pytest

from n2r.config import ConfigError
from pipelines.storage import Staging, Storage


def test_local_paths_and_file_uris_resolve_to_the_same_folder(tmp_path):
    plain, uri = Storage.resolve(tmp_path / "s"), Storage.resolve(f"file://{tmp_path}/s")
    assert plain.path == uri.path == str(tmp_path / "s") and plain.is_local and uri.is_local
    assert uri.ray_args() == {"storage_path": f"file://{tmp_path}/s", "storage_filesystem": None}
    uri.write_text("a/b.txt", "x")
    assert plain.read_text("a/b.txt") == "x" and plain.child("a").is_file("b.txt")
    assert plain.relative(f"file://{tmp_path}/s/a/b.txt") == "a/b.txt"
    with pytest.raises(ValueError, match="is not inside"):
        plain.relative(str(tmp_path / "elsewhere"))


def test_unknown_schemes_and_missing_files_are_named():
    with pytest.raises(ConfigError, match="--storage nosuch://bucket/x: not a storage URI"):
        Storage.resolve("nosuch://bucket/x")
    with pytest.raises(FileNotFoundError, match="summary.json: not found"):
        Storage.resolve("/nonexistent/sweep").read_text("summary.json")


def test_a_callers_filesystem_is_passed_to_ray_and_staged_through_temp_folders(tmp_path):
    (tmp_path / "bucket").mkdir()
    fs = pafs.SubTreeFileSystem(str(tmp_path / "bucket"), pafs.LocalFileSystem())
    store = Storage.resolve("runs/one", fs)
    assert not store.is_local and store.ray_args() == {"storage_path": "runs/one", "storage_filesystem": fs}
    store.write_text("summary.json", "{}")
    stage = Staging(store)
    assert stage.pull("summary.json").read_text() == "{}" and stage.path != tmp_path / "bucket" / "runs" / "one"
    (stage.path / "export" / "study").mkdir(parents=True)
    (stage.path / "export" / "study" / "model.bin").write_bytes(b"\x00\x01")
    stage.push("export")
    stage.close()
    assert (tmp_path / "bucket" / "runs" / "one" / "export" / "study" / "model.bin").read_bytes() == b"\x00\x01"
    assert [info.base_name for info in store.files("export")] == ["model.bin"]
