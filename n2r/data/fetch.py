"""``n2r data fetch``: download a data set from its original public location into the cache.

Each source names its URL and, where it is pinned, the SHA-256 of the archive; a download whose
digest differs is refused. Without network access the command fails within seconds with a
message pointing at ``--from PATH`` (reading a copy the user already has).
"""
from __future__ import annotations

import hashlib
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    url: str
    filename: str
    sha256: str | None = None  # None: not pinned yet; the digest is printed for the user to check


SOURCES: dict[str, list[Source]] = {
    "sst2": [Source("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip", "SST-2.zip")],
    "movies": [Source("https://www.eraserbenchmark.com/zipped/movies.tar.gz", "movies.tar.gz")],
    "mutagenicity": [Source("https://www.chrsmrrs.com/graphkerneldatasets/Mutagenicity.zip", "Mutagenicity.zip")],
    "agnews": [Source("https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/test.csv",
                      "test.csv")],
}


class FetchError(RuntimeError):
    pass


def _reachable(url: str, timeout: float) -> str | None:
    host = urllib.parse.urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return None
    except OSError as exc:
        return f"{host}: {exc}"


def fetch(name: str, cache_dir: Path, timeout: float = 5.0) -> Path:
    if name not in SOURCES:
        raise FetchError(f"no public download is known for {name!r} (known: {', '.join(sorted(SOURCES))}); "
                         "read your copy with --from PATH")
    target = cache_dir / "downloads" / name
    for source in SOURCES[name]:
        problem = _reachable(source.url, timeout)
        if problem:
            raise FetchError(f"cannot reach {source.url} ({problem}); without network access, "
                             f"read a local copy with: n2r data prepare {name} --from PATH")
        target.mkdir(parents=True, exist_ok=True)
        path = target / source.filename
        digest = hashlib.sha256()
        with urllib.request.urlopen(source.url, timeout=timeout) as response, path.open("wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if source.sha256 and digest.hexdigest() != source.sha256:
            path.unlink()
            raise FetchError(f"{source.url}: SHA-256 {digest.hexdigest()} differs from the pinned {source.sha256}")
        print(f"{path}: sha256 {digest.hexdigest()}" + ("" if source.sha256 else " (not pinned: check it)"))
    return target
