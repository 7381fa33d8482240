"""Sweeps on real multi-node Ray clusters on this machine (``ray.cluster_utils.Cluster``: a head
and worker nodes, each its own raylet and object store) with the sweep in the S3 bucket (a real S3
server, ``conftest.s3_env``). A worker node is killed — its raylet and every process on it — while it
runs a trial, and a new node joins; or the driver is killed with its whole cluster and disk, and
the sweep is resumed on another cluster from the bucket alone. Each time the sweep finishes with
nothing lost. The driver is the ``n2r`` command, connected with ``--address`` as a user connects
to a cluster."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import yaml

from tests.helpers import with_changes
from tests.pipelines.bucket import N2R, bucket_files, n2r, persisted_epochs, read

STUDY = "synthetic-text-gru-n2r"
# as the local instance of the other Ray tests (tests/conftest.py): Train polls its workers every 0.2 s
RAY_TEST_SETTINGS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2", "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0"}


# The GCS declares a node dead after `health_check_failure_threshold` missed checks `health_check_period_ms`
# apart (Ray's defaults 5 × 3 s: 15 s after a kill). A killed raylet refuses the connection at once, so
# 3 × 1 s detects it in ≈ 3 s; a live raylet answering late still has the default 10 s per check.
FAST_NODE_DEATH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}
# No dashboard (as the other Ray tests' local instance): its head process and nine module processes
# are not used by a sweep and poll for the whole module (22 Ray processes for a 3-node cluster, 13 without).
HEAD = {"num_cpus": 0, "resources": {"TRAIN_DRIVER": 100}, "_system_config": FAST_NODE_DEATH, "include_dashboard": False}


@pytest.fixture(scope="module")
def cluster(s3_env):
    """A head without CPUs (it hosts the driver's side only) and two worker nodes of one CPU each,
    shared by this module's tests (each kills the second worker node and adds a new one); every
    node sees the bucket as a user's cluster would (its environment)."""
    from ray.cluster_utils import Cluster

    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "RAY_AUTH_MODE")
    with pytest.MonkeyPatch.context() as env:
        for key in keys:
            env.setenv(key, s3_env[key])
        for key, value in RAY_TEST_SETTINGS.items():
            env.setenv(key, value)
        env.delenv("RAY_ADDRESS", raising=False)
        nodes = Cluster(initialize_head=True, head_node_args=HEAD)
        try:
            workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
            nodes.wait_for_nodes()
            yield nodes, workers
        finally:
            nodes.shutdown()


def sweep_losing_a_node(cluster, env, spec: dict, storage: str, tmp_path, ready, *options: str) -> tuple[dict, str]:
    """Run ``spec`` with ``n2r sweep --address`` into ``s3://n2r-test/STORAGE``; once ``ready()``,
    SIGKILL worker node B (its raylet and every process on it) and add a node. Returns the summary
    from the bucket and B's node id; the driver's log stays in ``tmp_path`` for a failure."""
    nodes, workers = cluster
    node_b = workers[1]
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    log = tmp_path / "driver.log"
    with log.open("w") as sink:
        driver = subprocess.Popen([*N2R, "sweep", str(tmp_path / "sweep.yaml"), "--storage", f"s3://n2r-test/{storage}",
                                   "--address", nodes.address, *options],
                                  env={**env, **RAY_TEST_SETTINGS, "N2R_CACHE": str(tmp_path / "cache")},
                                  cwd=tmp_path, stdout=sink, stderr=sink, start_new_session=True)
    try:
        deadline = time.time() + 180
        while not ready():
            assert time.time() < deadline and driver.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        lost = node_b.node_id
        nodes.remove_node(node_b, allow_graceful=False)
        workers[1] = nodes.add_node(num_cpus=1)                        # a node joins mid-sweep
        driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(read(env, f"{storage}/{spec['name']}/summary.json"))
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    return summary, lost


def test_a_worker_node_lost_mid_sweep_costs_only_its_running_epoch(s3_env, cluster, tmp_path):
    """Two trials run at once, one per worker node. When both have persisted checkpoints, node B
    is killed and node C joins: the sweep finishes; B's trial continues from its last checkpoint on
    another node, with contiguous epochs and nothing trained twice; the other trial never notices;
    no configuration is sampled twice; the summary, the best trial's checkpoint and the export are
    in the bucket."""
    epochs = 5
    spec = with_changes(search__num_samples=3, search__max_concurrent_trials=2, base__train__epochs=epochs,
                        datasets=[{"name": "synthetic-text", "options": {"n_train": 400, "n_dev": 32, "n_test": 32,
                                                                         "min_len": 5, "max_len": 9}}])

    def both_nodes_busy():               # each trial past its first checkpoint, neither finished
        running = [n for n in persisted_epochs(s3_env, f"cluster/tiny/{STUDY}").values() if n < epochs]
        return len(running) >= 2

    summary, lost_node = sweep_losing_a_node(cluster, s3_env, spec, "cluster", tmp_path, both_nodes_busy)
    study = summary["studies"][STUDY]
    trials = study["trials"]
    assert len(trials) == 3 and len({tuple(sorted(t["params"].items())) for t in trials}) == 3, trials
    assert all(t["curves"]["epoch"] == list(range(1, epochs + 1)) for t in trials), trials
    restarted = [t for t in trials if t["restarts"]]
    assert len(restarted) == 1, trials                         # only the trial that ran on the lost node
    restart = json.loads(read(s3_env, f"cluster/tiny/{restarted[0]['checkpoint']}/history.json"))["restarts"]
    # from its last checkpoint Ray had registered — the one persisted just before the loss may not
    # be (then that epoch is trained again, and counted) — on a surviving node
    assert len(restart) == 1 and restart[0]["from_epoch"] >= 1, restart
    assert restart[0]["furthest_epoch"] - restart[0]["from_epoch"] == restarted[0]["redone_epochs"] <= 1, restart
    assert restart[0]["node"] != lost_node
    files = bucket_files(s3_env, "cluster/tiny")
    assert f"{study['best']['checkpoint']}/checkpoint.pt" in files
    assert any(f.startswith(f"export/{STUDY}/") for f in files), sorted(files)


def test_a_data_parallel_trial_survives_losing_the_node_of_one_of_its_workers(s3_env, cluster, tmp_path):
    """One trial of two DDP workers, one per worker node, reading the prepared data from the
    bucket. After its Ray Train run has persisted two checkpoints, node B (one worker) is killed and
    node C joins: Ray Train restarts the worker group on A and C from the run's last registered
    checkpoint, and the trial ends with contiguous epochs."""
    epochs = 5
    spec = with_changes(search__num_samples=1, search__max_concurrent_trials=1, base__train__epochs=epochs,
                        resources={"num_workers": 2, "cpus_per_worker": 1},
                        datasets=[{"name": "synthetic-text", "options": {"n_train": 400, "n_dev": 32, "n_test": 32,
                                                                         "min_len": 5, "max_len": 9}}])

    def two_checkpoints():
        return 2 <= max(persisted_epochs(s3_env, f"ddp/tiny/{STUDY}/_train").values(), default=0) < epochs

    # export reads a multi-worker trial's checkpoint as any other (the summary names it; the driver-loss
    # test below exports from the bucket): not repeated here
    summary, lost_node = sweep_losing_a_node(cluster, s3_env, spec, "ddp", tmp_path, two_checkpoints, "--no-export")
    (trial,) = summary["studies"][STUDY]["trials"]
    assert trial["curves"]["epoch"] == list(range(1, epochs + 1)) and trial["restarts"] == 1, trial
    assert trial["checkpoint"].startswith(f"{STUDY}/_train/train-{trial['trial_id']}/checkpoint_")
    assert summary["studies"][STUDY]["best"]["trial_id"] == trial["trial_id"]
    assert f"{trial['checkpoint']}/checkpoint.pt" in bucket_files(s3_env, "ddp/tiny")          # the best, in the bucket
    restart = json.loads(read(s3_env, f"ddp/tiny/{trial['checkpoint']}/history.json"))["restarts"]
    assert restart[0]["from_epoch"] >= 1 and restart[0]["node"] != lost_node, restart
    assert restart[0]["furthest_epoch"] - restart[0]["from_epoch"] == trial["redone_epochs"] <= 1, restart
    # the workers read the prepared data from the bucket, not from one node's disk: the same rows
    # as the local cache, every one of them seen once per epoch across the two ranks
    import pyarrow.parquet as pq

    from n2r.data.cache import prepare
    from tests.pipelines.bucket import filesystem

    options = spec["datasets"][0]["options"]
    local = prepare("synthetic-text", None, options, cache_dir=tmp_path / "local-cache")
    shared = [f for f in bucket_files(s3_env, "ddp/tiny/_data") if f.endswith("train.parquet")]
    assert shared == [f"synthetic-text/{local.directory.name}/train.parquet"], shared
    in_bucket = pq.read_table(f"n2r-test/ddp/tiny/_data/{shared[0]}", filesystem=filesystem(s3_env))
    assert in_bucket.equals(local.table("train")) and in_bucket.num_rows == 400
    epochs_seen = json.loads(read(s3_env, f"ddp/tiny/{trial['checkpoint']}/history.json"))["epochs"]
    assert all(e["train_examples"] * 2 == 400 for e in epochs_seen)             # rank 0's half
    # the trial and its workers ran Ray Data without a terminal: no progress bars in the driver's output
    assert "row/s]" not in (tmp_path / "driver.log").read_text()


def kill_everything_under(ray_dir: str, timeout: float = 30) -> None:
    """SIGKILL every process of the Ray cluster started with ``RAY_TMPDIR=ray_dir`` (workers
    rename themselves ``ray::…``; their environment still names it) and wait until none is left:
    a worker outside the driver's process group would otherwise go on uploading a checkpoint
    after the "machine" is gone (seen: an epoch the bucket did not hold at the kill)."""
    import psutil

    def of_that_cluster(process) -> bool:
        try:
            return process.environ().get("RAY_TMPDIR") == ray_dir
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            return False

    deadline = time.time() + timeout
    while True:
        left = [p for p in psutil.process_iter() if p.pid != os.getpid() and of_that_cluster(p)]
        if not left:
            return
        assert time.time() < deadline, [p.pid for p in left]
        for process in left:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)


def test_a_sweep_whose_driver_cluster_and_disk_are_lost_resumes_on_another_cluster_from_the_bucket(
        s3_env, cluster, tmp_path, monkeypatch):
    """The driver is killed mid-sweep together with its whole cluster (a head and two worker
    nodes: every process of it), and its working folder, Ray folder and data cache are deleted;
    ``n2r resume --address`` from another folder, on another cluster with a fresh cache, finishes
    the sweep from the bucket: the budget kept, no configuration run twice, every trial's epochs
    contiguous. Sweep file, Tune state, checkpoints, summary, report and export are in the bucket,
    and ``n2r export`` from a third, empty folder reads them back."""
    from ray.cluster_utils import Cluster

    spec = with_changes(search__num_samples=4, base__train__epochs=4)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    driver_disk, elsewhere, third = tmp_path / "driver", tmp_path / "elsewhere", tmp_path / "third"
    for folder in (driver_disk, elsewhere, third):
        folder.mkdir()
    # the lost cluster's Ray folder: a short path (its sockets live there; at most 107 bytes)
    ray_lost = tempfile.mkdtemp(prefix="n2r-ray-", dir="/tmp")
    with monkeypatch.context() as env:                  # its processes carry RAY_TMPDIR: found and killed by it
        env.setenv("RAY_TMPDIR", ray_lost)
        lost_cluster = Cluster(initialize_head=True, head_node_args=HEAD, shutdown_at_exit=False)
        for _ in range(2):
            lost_cluster.add_node(num_cpus=1)
        lost_cluster.wait_for_nodes()
    lost = {**s3_env, **RAY_TEST_SETTINGS, "RAY_TMPDIR": ray_lost, "N2R_CACHE": str(driver_disk / "cache")}
    log = tmp_path / "driver.log"                                             # kept for a failure
    try:
        with log.open("w") as sink:
            driver = subprocess.Popen([*N2R, "sweep", str(tmp_path / "tiny.yaml"), "--storage", "s3://n2r-test/lost",
                                       "--address", lost_cluster.address, "--no-export"],
                                      env=lost, cwd=driver_disk, stdout=sink, stderr=sink, start_new_session=True)
        deadline = time.time() + 180
        while not sum(f.endswith("checkpoint.pt") for f in bucket_files(s3_env, "lost/tiny")) >= 3:
            assert time.time() < deadline and driver.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(driver.pid, signal.SIGKILL)                 # the driver …
        driver.wait(timeout=30)
    finally:
        kill_everything_under(ray_lost)                       # … with every process of its cluster
    shutil.rmtree(driver_disk, ignore_errors=True)           # and the disks are gone
    shutil.rmtree(ray_lost, ignore_errors=True)
    assert "summary.json" not in bucket_files(s3_env, "lost/tiny")
    before = persisted_epochs(s3_env, f"lost/tiny/{STUDY}")   # what the killed run left per trial
    nodes, _ = cluster
    fresh = {**s3_env, **RAY_TEST_SETTINGS, "N2R_CACHE": str(elsewhere / "cache")}
    resumed = n2r(fresh, "resume", "s3://n2r-test/lost/tiny", "--address", nodes.address, cwd=elsewhere, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    files = bucket_files(s3_env, "lost/tiny")
    assert {"sweep.yaml", "summary.json", "report.html", "explanations.json"} <= files, sorted(files)
    assert any(f.startswith(f"{STUDY}/experiment_state") for f in files), sorted(files)
    assert any(f.startswith(f"export/{STUDY}/") for f in files), sorted(files)
    summary = json.loads(read(s3_env, "lost/tiny/summary.json"))
    (tmp_path / "summary.json").write_text(json.dumps({"summary": summary, "before": before}))    # kept for a failure
    study = summary["studies"][STUDY]
    assert len(study["trials"]) == 4                                           # the budget is respected
    assert len({tuple(sorted(t["params"].items())) for t in study["trials"]}) == 4   # none ran twice
    recorded = {t["path"].split("/")[1]: t for t in study["trials"]}
    # trials the killed driver started after Tune's last snapshot: reported, not mixed in
    assert study["unrecorded_trials"] == sorted(f"{STUDY}/{n}" for n in set(before) - set(recorded))
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
    card = json.loads((third / "bundles" / STUDY / "metrics.json").read_text())
    assert card["trial_id"] == study["best"]["trial_id"]
    assert card["checkpoint"].startswith("s3://n2r-test/lost/tiny/")
    assert card["dev"]["accuracy"] == pytest.approx(study["best"]["best_dev"]["accuracy"])
