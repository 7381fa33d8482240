"""A sweep on a real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head
and worker nodes, each its own raylet and object store) with the sweep in the S3 bucket: a worker
node is killed — its raylet and every process on it — while it runs a trial, a new node joins, and
the sweep finishes with nothing lost. The driver is the ``n2r`` command, connected with
``--address`` as a user connects to a cluster."""
import json
import subprocess
import time

import pytest
import yaml

from tests.helpers import with_changes
from tests.pipelines.bucket import N2R, bucket_files, persisted_epochs, read

STUDY = "synthetic-text-gru-n2r"
# as the local instance of the other Ray tests (tests/conftest.py): Train polls its workers every 0.2 s
RAY_TEST_SETTINGS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2", "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0"}


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
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "resources": {"TRAIN_DRIVER": 100}})
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
    # test in test_s3.py exports from the bucket): not repeated here
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
