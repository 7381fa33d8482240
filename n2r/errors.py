"""The library's error types whose modules load PyTorch, defined here so that the ``n2r`` command
can catch them (and turn them into ``n2r: error: …``, exit 2) without loading PyTorch first.
Each is also importable from the module that raises it (``n2r.bundle.BundleError``, …)."""


class BundleError(RuntimeError):
    """A bundle that is incomplete, altered or not an n2r bundle; the message names the file."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or is not an n2r checkpoint."""


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN/inf; the message names epoch, batch and term (e.g. ``step2/norm``)."""
