"""Reading and writing the tests' S3 bucket (the server is ``conftest.s3_env``) and running the
``n2r`` command as a user does."""
import json
import socket
import subprocess
import sys

import pyarrow.fs as pafs

N2R = [sys.executable, "-m", "pipelines.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def filesystem(env) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], access_key=env["AWS_ACCESS_KEY_ID"],
                             secret_key=env["AWS_SECRET_ACCESS_KEY"], region="us-east-1")


def n2r(env, *args, cwd, timeout=300):
    return subprocess.run([*N2R, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def bucket_files(env, prefix: str) -> set[str]:
    fs = filesystem(env)
    selector = pafs.FileSelector(f"n2r-test/{prefix}", recursive=True, allow_not_found=True)
    return {info.path[len(f"n2r-test/{prefix}/"):] for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File}


def read(env, key: str) -> str:
    with filesystem(env).open_input_stream(f"n2r-test/{key}") as stream:
        return stream.read().decode()


def read_unless_deleted(env, key: str) -> str | None:
    """``read``, or None when the key was deleted after it was listed (a running sweep drops its
    older checkpoints while a test polls the bucket); any other error is raised."""
    try:
        return read(env, key)
    except OSError:
        if filesystem(env).get_file_info(f"n2r-test/{key}").type == pafs.FileType.NotFound:
            return None
        raise


def persisted_epochs(env, study: str) -> dict[str, int]:
    """Per trial folder of the study in the bucket: the furthest epoch its checkpoints reached."""
    furthest = {}
    for name in bucket_files(env, study):
        parts = name.split("/")
        if len(parts) == 3 and parts[1].startswith("checkpoint_") and parts[2] == "history.json":
            text = read_unless_deleted(env, f"{study}/{name}")
            if text is None:                # an older checkpoint, removed since the listing
                continue
            epochs = json.loads(text)["epochs"]
            furthest[parts[0]] = max(furthest.get(parts[0], 0), int(epochs[-1]["epoch"]))
    return furthest


