"""A sweep kept in object storage: a real S3 server (moto's, on 127.0.0.1, checking credentials)
reached through ``s3://bucket/prefix`` and ``AWS_ENDPOINT_URL``, exactly as a user points n2r at
MinIO or a private S3. Sweeps run as a user runs them — the ``n2r`` command, its own local Ray."""
import json
import os
import subprocess
import tempfile

import pytest
import yaml

from tests.helpers import TINY_SWEEP
from tests.pipelines.bucket import N2R, bucket_files, free_port, n2r, persisted_epochs, read


def kill_everything_under(ray_dir: str, timeout: float = 30) -> None:
    """SIGKILL every process of the Ray instance started with ``RAY_TMPDIR=ray_dir`` (workers
    rename themselves ``ray::…``; their environment still names it) and wait until none is left:
    a worker outside the driver's process group would otherwise go on uploading a checkpoint
    after the "machine" is gone (seen: an epoch the bucket did not hold at the kill)."""
    import time

    import psutil

    def of_that_instance(process) -> bool:
        try:
            return process.environ().get("RAY_TMPDIR") == ray_dir
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            return False

    deadline = time.time() + timeout
    while True:
        left = [p for p in psutil.process_iter() if p.pid != os.getpid() and of_that_instance(p)]
        if not left:
            return
        assert time.time() < deadline, [p.pid for p in left]
        for process in left:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)


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


def test_a_sweep_whose_driver_and_disk_are_lost_resumes_from_the_bucket_alone(s3_env, tmp_path):
    """The driver (and the local Ray it started) is killed mid-sweep, and its working folder, Ray
    folder and data cache are deleted; ``n2r resume`` from another folder, with a fresh Ray and
    cache, finishes the sweep from the bucket: the budget kept, no configuration run twice, every
    trial's epochs contiguous. Sweep file, Tune state, checkpoints, summary and export are in the
    bucket, and ``n2r export`` from a third, empty folder reads them back."""
    import shutil
    import signal
    import time

    spec = {**TINY_SWEEP, "search": {**TINY_SWEEP["search"], "num_samples": 4},
            "base": {**TINY_SWEEP["base"], "train": {**TINY_SWEEP["base"]["train"], "epochs": 4}}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    driver_disk, elsewhere, third = tmp_path / "driver", tmp_path / "elsewhere", tmp_path / "third"
    for folder in (driver_disk, elsewhere, third):
        folder.mkdir()
    # Ray's folders: short paths (its sockets live there; a Unix socket path has at most 107 bytes)
    ray_lost, ray_fresh = (tempfile.mkdtemp(prefix="n2r-ray-", dir="/tmp") for _ in range(2))
    lost = {**s3_env, "RAY_TMPDIR": ray_lost, "N2R_CACHE": str(driver_disk / "cache")}
    log = tmp_path / "driver.log"                                             # kept for a failure
    with log.open("w") as sink:
        driver = subprocess.Popen([*N2R, "sweep", str(tmp_path / "tiny.yaml"), "--storage", "s3://n2r-test/lost",
                                   "--no-export"], env=lost, cwd=driver_disk, stdout=sink, stderr=sink,
                                  start_new_session=True)
    deadline = time.time() + 240
    while not sum(f.endswith("checkpoint.pt") for f in bucket_files(s3_env, "lost/tiny")) >= 3:
        assert time.time() < deadline and driver.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)                 # the driver and the local Ray it started …
    driver.wait(timeout=30)
    kill_everything_under(ray_lost)                       # … with every Ray process of that instance
    shutil.rmtree(driver_disk, ignore_errors=True)       # the driver's disk is gone
    shutil.rmtree(ray_lost, ignore_errors=True)
    assert "summary.json" not in bucket_files(s3_env, "lost/tiny")
    before = persisted_epochs(s3_env, "lost/tiny/synthetic-text-gru-n2r")   # what the killed run left per trial
    fresh = {**s3_env, "RAY_TMPDIR": ray_fresh, "N2R_CACHE": str(elsewhere / "cache")}
    resumed = n2r(fresh, "resume", "s3://n2r-test/lost/tiny", cwd=elsewhere, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    files = bucket_files(s3_env, "lost/tiny")
    assert {"sweep.yaml", "summary.json", "report.html", "explanations.json"} <= files, sorted(files)
    assert any(f.startswith("synthetic-text-gru-n2r/experiment_state") for f in files), sorted(files)
    assert any(f.startswith("export/synthetic-text-gru-n2r/") for f in files), sorted(files)
    summary = json.loads(read(s3_env, "lost/tiny/summary.json"))
    (tmp_path / "summary.json").write_text(json.dumps({"summary": summary, "before": before}))    # kept for a failure
    study = summary["studies"]["synthetic-text-gru-n2r"]
    assert len(study["trials"]) == 4                                           # the budget is respected
    assert len({tuple(sorted(t["params"].items())) for t in study["trials"]}) == 4   # none ran twice
    recorded = {t["path"].split("/")[1]: t for t in study["trials"]}
    # trials the killed driver started after Tune's last snapshot: reported, not mixed in
    assert study["unrecorded_trials"] == sorted(f"synthetic-text-gru-n2r/{n}" for n in set(before) - set(recorded))
    for name, trial in recorded.items():
        # every epoch once, in order — from the trial's checkpoint history, which reaches the bucket
        # with each checkpoint (Tune's result rows before the kill may never have been uploaded)
        assert trial["curves"]["epoch"] == [1, 2, 3, 4], name
        assert f"{trial['checkpoint']}/checkpoint.pt" in files and trial["checkpoint"].endswith("checkpoint_000003")
        restarts = json.loads(read(s3_env, f"lost/tiny/{trial['checkpoint']}/history.json"))["restarts"]
        if restarts:            # a restarted trial redoes the epochs between its checkpoint and the furthest
            assert [r["furthest_epoch"] for r in restarts] == [before[name]], (name, restarts, before)
            assert trial["redone_epochs"] == before[name] - restarts[0]["from_epoch"], (name, restarts)
        else:                   # one the killed run finished, or one it never started
            assert before.get(name, 4) == 4 and trial["redone_epochs"] == 0, (name, before)
    exported = n2r(fresh, "export", "s3://n2r-test/lost/tiny", "--out", str(third / "bundles"), cwd=third)
    assert exported.returncode == 0, exported.stderr[-3000:]
    card = json.loads((third / "bundles" / "synthetic-text-gru-n2r" / "metrics.json").read_text())
    assert card["trial_id"] == study["best"]["trial_id"]
    assert card["checkpoint"].startswith("s3://n2r-test/lost/tiny/")
    assert card["dev"]["accuracy"] == pytest.approx(study["best"]["best_dev"]["accuracy"])
    shutil.rmtree(ray_fresh, ignore_errors=True)
