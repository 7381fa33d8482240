"""Where a sweep lives: a local folder, a URI (``file://``, ``s3://``, ``gs://``) or a path on a
caller's ``pyarrow.fs.FileSystem``.

Ray Tune writes trials and checkpoints through the same pyarrow filesystem, so the sweep file,
its summary, the Tune experiments and the checkpoints all sit under one root, and ``n2r resume`` /
``n2r export`` read them back from that root alone — the head node that ran the sweep can be gone.
"""
from __future__ import annotations

import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from n2r.config import ConfigError


@dataclass(frozen=True)
class Storage:
    """A folder on a pyarrow filesystem. ``uri`` is what users see and Ray is given."""

    fs: pafs.FileSystem
    path: str                     # path on ``fs`` (no scheme)
    uri: str                      # local absolute path, URI, or ``path`` for a custom filesystem
    custom: bool = False          # the filesystem came from the caller, not from the URI

    @classmethod
    def resolve(cls, location: str | Path, filesystem: pafs.FileSystem | None = None) -> "Storage":
        """``location`` is a local path or URI; with ``filesystem`` it is a path on that filesystem."""
        location = str(location)
        if filesystem is not None:
            return cls(filesystem, location.rstrip("/") or "/", location, custom=True)
        if "://" not in location:
            local = str(Path(location).expanduser().resolve())
            return cls(pafs.LocalFileSystem(), local, local)
        try:
            fs, path = pafs.FileSystem.from_uri(location)
        except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError(f"--storage {location}: not a storage URI pyarrow can open ({exc})") from None
        return cls(fs, path.rstrip("/"), location.rstrip("/"))

    def check_reachable(self) -> "Storage":
        """Refuse storage a sweep could not write to, before Ray starts: one request to the bucket
        (object storage) names the URI and the cause — a missing bucket, refused credentials, an
        endpoint that does not answer (``AWS_ENDPOINT_URL`` points S3 clients such as MinIO or
        Ceph elsewhere). Local folders and a caller's filesystem are not checked."""
        if self.is_local or self.custom:
            return self
        bucket = self.path.split("/", 1)[0]
        try:
            info = self.fs.get_file_info(bucket)
        except OSError as exc:        # pyarrow's S3 errors: access denied, connection refused, …
            raise ConfigError(f"--storage {self.uri}: cannot reach bucket {bucket!r}{_endpoint()}: "
                              f"{str(exc).strip().splitlines()[-1]}") from None
        if info.type == pafs.FileType.NotFound:
            raise ConfigError(f"--storage {self.uri}: bucket {bucket!r} does not exist{_endpoint()}; create it first")
        return self

    # -------------------------------------------------------------- naming
    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem) and not self.custom

    def local_path(self) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri} is not on the local filesystem")
        return Path(self.path)

    def child(self, *parts: str) -> "Storage":
        path = posixpath.join(self.path, *parts)
        uri = self.uri.rstrip("/") + "/" + "/".join(parts)
        return Storage(self.fs, path, path if self.custom else uri, self.custom)

    def relative(self, fs_path: str) -> str:
        """``fs_path`` (as Ray reports it) relative to this folder."""
        if fs_path.startswith("file://"):
            fs_path = fs_path[len("file://"):]
        rel = posixpath.relpath(fs_path.rstrip("/"), self.path)
        if rel.startswith(".."):
            raise ValueError(f"{fs_path} is not inside {self.path}")
        return rel

    def ray_args(self) -> dict:
        """``storage_path`` / ``storage_filesystem`` for Tune's and Train's ``RunConfig``."""
        if self.custom:
            return {"storage_path": self.path, "storage_filesystem": self.fs}
        return {"storage_path": self.uri, "storage_filesystem": None}

    # -------------------------------------------------------------- files
    def _p(self, name: str) -> str:
        return posixpath.join(self.path, name) if name else self.path

    def exists(self, name: str = "") -> bool:
        return self.fs.get_file_info(self._p(name)).type != pafs.FileType.NotFound

    def is_file(self, name: str) -> bool:
        return self.fs.get_file_info(self._p(name)).type == pafs.FileType.File

    def makedirs(self, name: str = "") -> None:
        self.fs.create_dir(self._p(name), recursive=True)

    def read_text(self, name: str) -> str:
        try:
            with self.fs.open_input_stream(self._p(name)) as stream:
                return stream.read().decode("utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.uri}/{name}: not found") from None

    def write_text(self, name: str, text: str) -> None:
        parent = posixpath.dirname(self._p(name))
        if parent:
            self.fs.create_dir(parent, recursive=True)
        with self.fs.open_output_stream(self._p(name)) as stream:
            stream.write(text.encode("utf-8"))

    def files(self, name: str = "") -> list[pafs.FileInfo]:
        """Every file under ``name`` (recursive; empty when the folder is missing)."""
        selector = pafs.FileSelector(self._p(name), recursive=True, allow_not_found=True)
        return [info for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]

    def download(self, name: str, local: Path) -> Path:
        """Copy file ``name`` to the local path ``local``."""
        local.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self._p(name), str(local), source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return local

    def upload(self, local: Path, name: str) -> None:
        """Copy a local file or folder to ``name`` under this folder."""
        target = self._p(name)
        if Path(local).is_dir():
            self.fs.create_dir(target, recursive=True)
        else:
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
        pafs.copy_files(str(local), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)


def _endpoint() -> str:
    import os

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f" at {endpoint}" if endpoint else ""


class Staging:
    """A local working folder for files that end up in ``storage``: the folder itself when the
    storage is local, otherwise a temporary folder that :meth:`push` uploads."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self._tmp = None if storage.is_local else tempfile.TemporaryDirectory(prefix="n2r-stage-")
        self.path = storage.local_path() if storage.is_local else Path(self._tmp.name)

    def pull(self, name: str) -> Path:
        if not self.storage.is_local:
            self.storage.download(name, self.path / name)
        return self.path / name

    def push(self, name: str) -> None:
        if not self.storage.is_local:
            self.storage.upload(self.path / name, name)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
