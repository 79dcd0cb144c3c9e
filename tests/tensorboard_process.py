"""A real `tensorboard` process for tests: started on a free port of 127.0.0.1, stopped for sure.

    board = TensorBoardProcess(logdir, load_fast="false", reload_interval=1)
    url = board.start()            # "http://127.0.0.1:PORT", once TensorBoard answers
    runs = board.get_json("/data/plugin/stuck/runs")
    board.stop()                   # or: with TensorBoardProcess(logdir) as board: ...

TensorBoard runs in its own process group (with the Rust data server it spawns, for
`load_fast="true"`/`"auto"`), and `stop()` ends that group. Its output goes to a log file, whose tail
is included in the error when it does not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# TensorBoard's start-up line on stderr: "TensorBoard 2.21.0 at http://127.0.0.1:PORT/ (Press ...".
_SERVING = re.compile(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C")


class TensorBoardProcess:
    """One `python -m tensorboard.main` process over `logdir`."""

    def __init__(
        self,
        logdir: str | os.PathLike,
        *,
        load_fast: str = "auto",
        reload_interval: float = 1,
        extra_args: tuple[str, ...] = (),
        start_timeout_s: float = 120,
    ):
        self.logdir = Path(logdir)
        self.load_fast = load_fast
        self.reload_interval = reload_interval
        self.extra_args = extra_args
        self.start_timeout_s = start_timeout_s
        self.url: str | None = None
        descriptor, log_path = tempfile.mkstemp(prefix="tensorboard-", suffix=".log")
        os.close(descriptor)
        self.log_path = Path(log_path)
        self._process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start TensorBoard and return its base URL once it answers HTTP requests."""
        command = [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(self.logdir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--reload_interval",
            str(self.reload_interval),
            "--load_fast",
            self.load_fast,
            *self.extra_args,
        ]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            self.url = self._wait_for_url()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop TensorBoard and every process it started; safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        group = os.getpgid(process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            process.wait(timeout=15)
        # The data server may outlive TensorBoard by a moment; end the rest of the group too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)

    def get_json(self, path: str):
        """GET a path of this TensorBoard (e.g. "/data/plugins_listing") and parse the JSON."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return json.load(response)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """GET a path of this TensorBoard; return (status, Content-Type, body), error statuses too."""
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers.get("Content-Type", ""), error.read()

    def log(self) -> str:
        """What TensorBoard printed so far."""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> TensorBoardProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            match = _SERVING.search(self.log())
            if match:
                return match.group(1)
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited ({self._process.returncode}):\n{self._tail()}"
                )
            time.sleep(0.2)
        raise TimeoutError(
            f"tensorboard did not start in {self.start_timeout_s} s:\n{self._tail()}"
        )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                self.get_json("/data/plugins_listing")
                return
            except (urllib.error.URLError, ConnectionError) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"tensorboard does not answer: {error}\n{self._tail()}"
                    ) from None
                time.sleep(0.2)

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])
