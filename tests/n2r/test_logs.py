"""Logging levels chosen by -v/-q, and progress bars that appear only where someone watches."""
import io
import logging

from tqdm import tqdm

from n2r.logs import configure, progress, progress_bar
from tests.helpers import invoke, run_cli


def records(verbosity):
    stream = io.StringIO()
    configure(verbosity, stream)
    for name in ("n2r.data.cache", "pipelines.sweep"):
        logging.getLogger(name).debug("debug from %s", name)
        logging.getLogger(name).info("info from %s", name)
        logging.getLogger(name).warning("warning from %s", name)
    configure(0)
    return stream.getvalue().splitlines()


def test_verbosity_picks_the_levels_of_the_library_and_the_pipelines():
    assert records(-1) == ["warning from n2r.data.cache", "warning from pipelines.sweep"]
    assert records(0) == ["info from n2r.data.cache", "warning from n2r.data.cache",
                          "info from pipelines.sweep", "warning from pipelines.sweep"]
    detailed = records(1)
    assert len(detailed) == 6 and detailed[0].endswith("n2r.data.cache DEBUG: debug from n2r.data.cache")


def test_progress_is_the_plain_loop_unless_enabled(capsys):
    items = [1, 2, 3]
    assert progress(items, desc="x") is items                 # tests have no terminal on stderr
    bar = progress(items, desc="loop", enabled=True)
    assert isinstance(bar, tqdm) and list(bar) == items
    manual = progress_bar(3, enabled=False)
    manual.update(1), manual.set_postfix_str("a"), manual.close()  # a no-op, not an error
    assert "loop" in capsys.readouterr().err


def test_the_command_logs_on_stderr_keeps_stdout_for_its_output_and_q_silences_it(tmp_path):
    # the process's own streams once; -q and -v in-process (the same configure() on sys.stderr)
    done = run_cli("data", "prepare", "synthetic-text", "-o", "n_train=40", "--cache", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("prepared:") and "synthetic-text: reading (generated)" in done.stderr
    again = invoke("-q", "data", "prepare", "synthetic-text", "-o", "n_train=40", "--cache", str(tmp_path / "q"))
    assert again.returncode == 0 and again.stdout.startswith("prepared:") and again.stderr == ""
    debug = invoke("-v", "data", "prepare", "synthetic-text", "-o", "n_train=40", "--cache", str(tmp_path / "q"))
    assert "n2r.data.cache DEBUG: synthetic-text: cache hit" in debug.stderr
