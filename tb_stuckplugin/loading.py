"""Opens a logdir the way TensorBoard does, for `tb-stuck`: the Rust data server or the Python loader.

Both give a TensorBoard `DataProvider`, the same interface the plugin reads through, so `tb-stuck`
and the panel share one read path. The difference from TensorBoard itself is that `tb-stuck` must
know when a load has finished (to give a verdict on the whole logdir): the data server is run with
`--verbose` and its "Finished load cycle" log lines are counted; the Python loader reloads
synchronously.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time

import grpc
from tensorboard.backend.event_processing import data_provider as multiplexer_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import grpc_provider, server_ingester
from tensorboard.data.proto import data_provider_pb2_grpc

from tb_stuckplugin.record_format import PLUGIN_NAME

# Points kept per tag of ours: a verdict needs the latest only, which TensorBoard always keeps, so
# memory stays flat however long the job runs.
SAMPLES = 1
LOAD_TIMEOUT_S = 3600.0
# Largest gRPC answer accepted from the data server: TensorBoard's own (server_ingester.py). gRPC's
# default, 4 MiB, is one read of about 10 runs of 100 variables (docs/benchmarks.md).
MAX_MESSAGE_BYTES = 256 * 2**20


class LoadError(Exception):
    """The logdir cannot be read (said to the user, never a traceback)."""


class DataServerLoader:
    """TensorBoard's Rust data server on a logdir, read through TensorBoard's gRPC data provider.

    `samples`: points kept per tag of ours (tb-stuck's `SAMPLES`; benchmarks keep TensorBoard's 100).
    """

    def __init__(self, logdir: str, reload_interval: float | None, samples: int = SAMPLES):
        self._cycles = 0
        self._consumed = 0
        self._cycle_done = threading.Condition()
        self._tmp = tempfile.TemporaryDirectory(prefix="tb_stuck_")
        port_file = os.path.join(self._tmp.name, "port")
        try:
            binary = server_ingester.get_server_binary()
        except server_ingester.NoDataServerError as e:
            raise LoadError(f"no TensorBoard data server: {e} (use --load-fast=false)") from None
        reload = "once" if not reload_interval else str(max(1, int(reload_interval)))
        self._process = subprocess.Popen(
            [
                binary.path,
                f"--logdir={os.path.expanduser(logdir)}",
                f"--reload={reload}",
                f"--samples-per-plugin={PLUGIN_NAME}={samples}",
                "--port=0",
                f"--port-file={port_file}",
                "--die-after-stdin",
                "--verbose",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._log: list[str] = []
        self._channel = None
        threading.Thread(target=self._follow_log, daemon=True).start()
        port = self._wait_for_port(port_file)
        self._channel = grpc.insecure_channel(
            f"localhost:{port}", options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        )
        self.provider = grpc_provider.GrpcDataProvider(
            f"localhost:{port}", data_provider_pb2_grpc.TensorBoardDataProviderStub(self._channel)
        )

    def _follow_log(self) -> None:
        for line in self._process.stderr:
            self._log.append(line.rstrip())
            del self._log[:-20]
            if "Finished load cycle" in line:
                with self._cycle_done:
                    self._cycles += 1
                    self._cycle_done.notify_all()
        with self._cycle_done:
            self._cycle_done.notify_all()

    def _wait_for_port(self, port_file: str) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LoadError("the data server stopped: " + " | ".join(self._log[-3:]))
            try:
                with open(port_file) as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n"):
                return int(text)
            time.sleep(0.05)
        self.close()
        raise LoadError("the data server did not start within 30 s")

    def wait_for_load(self) -> None:
        """Block until the data server has finished a load cycle not waited for before."""
        with self._cycle_done:
            finished = self._cycle_done.wait_for(
                lambda: self._cycles > self._consumed or self._process.poll() is not None,
                LOAD_TIMEOUT_S,
            )
            if self._cycles > self._consumed:
                self._consumed = self._cycles
                return
        if not finished:
            raise LoadError(f"loading took more than {LOAD_TIMEOUT_S:.0f} s")
        raise LoadError("the data server stopped: " + " | ".join(self._log[-3:]))

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.terminate()
            self._process.wait(timeout=10)
        self._tmp.cleanup()


class PythonLoader:
    """TensorBoard's Python loader (`--load_fast=false`): for logdirs the data server cannot read."""

    def __init__(self, logdir: str, reload_interval: float | None):
        self._multiplexer = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={PLUGIN_NAME: SAMPLES}
        )
        self.provider = multiplexer_provider.MultiplexerDataProvider(self._multiplexer, logdir)
        self._logdir = logdir
        self._reload_interval = reload_interval
        self._loaded = False

    def wait_for_load(self) -> None:
        """Load what is new (waiting the reload interval after the first load, like TensorBoard)."""
        if self._loaded and self._reload_interval:
            time.sleep(self._reload_interval)
        try:
            self._multiplexer.AddRunsFromDirectory(self._logdir)
            self._multiplexer.Reload()
        except UnicodeDecodeError as e:
            raise LoadError(
                f"{self._logdir}: a file or folder name is not UTF-8, which TensorBoard's Python "
                f"loader cannot read ({e}); use --load-fast=true"
            ) from None
        self._loaded = True

    def close(self) -> None:
        pass


def open_logdir(logdir: str, load_fast: str = "auto", reload_interval: float | None = None):
    """A loader for `logdir`: the data server for "true" and, where it runs, "auto"; else Python.

    Local logdirs must exist; remote ones (gs://) are left to the loaders to judge.
    """
    if "://" not in logdir and not os.path.isdir(os.path.expanduser(logdir)):
        raise LoadError(f"{logdir}: no such directory")
    remote_unsupported = "://" in logdir and not logdir.startswith("gs://")
    if load_fast == "false" or (load_fast == "auto" and remote_unsupported):
        return PythonLoader(logdir, reload_interval)
    try:
        return DataServerLoader(logdir, reload_interval)
    except LoadError:
        if load_fast == "true":
            raise
        return PythonLoader(logdir, reload_interval)
