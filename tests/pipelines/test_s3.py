"""Storage a user cannot use — a missing bucket, wrong credentials, an endpoint that does not
answer — is refused naming the URI before Ray starts (a real S3 server: moto's, on 127.0.0.1,
checking credentials). Sweeps kept in the bucket, and losing their driver, nodes and disks, are
tested on a multi-node cluster in ``test_cluster.py``."""
import pytest
import yaml

from tests.helpers import TINY_SWEEP
from tests.pipelines.bucket import free_port, n2r


@pytest.mark.parametrize("change, storage, message", [
    ({}, "s3://no-such-bucket/sweeps",
     "--storage s3://no-such-bucket/sweeps: bucket 'no-such-bucket' does not exist at http://127.0.0.1:"),
    ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "s3://n2r-test/sweeps",
     "--storage s3://n2r-test/sweeps: cannot reach bucket 'n2r-test' at http://127.0.0.1:"),
])
def test_unusable_storage_is_refused_naming_the_uri_before_ray_starts(s3_env, tmp_path, change, storage, message):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_SWEEP))
    done = n2r({**s3_env, **change}, "sweep", str(tmp_path / "tiny.yaml"), "--storage", storage, cwd=tmp_path,
               timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert "ACCESS_DENIED" in done.stderr or not change                       # the server's reason, last line
    assert "Started a local Ray instance" not in done.stderr


def test_an_endpoint_that_does_not_answer_is_refused_naming_the_uri(s3_env, tmp_path):
    env = {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}      # nothing listens there
    done = n2r(env, "export", "s3://n2r-test/sweeps/tiny", "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--storage s3://n2r-test/sweeps/tiny: cannot reach bucket 'n2r-test' at http://127.0.0.1:" in done.stderr
