"""Read back what the summary ops wrote, through TensorBoard's own loaders, as plain numpy.

Both of TensorBoard's read paths are covered: the Python loader (`EventMultiplexer` behind a
`MultiplexerDataProvider`, used with `--load_fast=false`) and the Rust data server (the default),
each configured as TensorBoard configures it, so the points kept are the points a user would see.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
from tensorboard import context
from tensorboard.backend.event_processing import (
    data_ingester,
    event_file_loader,
    io_wrapper,
    plugin_event_multiplexer,
)
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.compat.proto import summary_pb2
from tensorboard.data import provider as tb_provider
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util, tensor_util

from tb_stuckplugin.metadata import PLUGIN_NAME

# {run: {tag: [(step, value), ...]}}, ascending by step: every point of our plugin that was kept.
PointsByRunAndTag = dict[str, dict[str, list[tuple[int, np.ndarray]]]]

# `--samples_per_plugin` that keeps every point of our plugin, in both loaders.
KEEP_ALL = {PLUGIN_NAME: 0}
# Larger than any reservoir used in the tests: read every point the loader kept.
READ_ALL = 100_000
# How long the data server may take to load a small logdir before the read gives up (not a test
# assertion: the test then fails on the missing data, with the data in its message).
DATA_SERVER_LOAD_WAIT_S = 60.0


def python_loader(
    logdir, samples_per_plugin: dict[str, int] | None = None
) -> MultiplexerDataProvider:
    """A data provider over TensorBoard's Python loader, with TensorBoard's reservoir sizes.

    `samples_per_plugin` is `--samples_per_plugin`; without it our plugin gets the default for
    third-party plugins (10 tensors per tag).
    """
    tensor_size_guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    tensor_size_guidance.update(samples_per_plugin or {})
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance=tensor_size_guidance,
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return MultiplexerDataProvider(multiplexer, str(logdir))


@contextlib.contextmanager
def data_server(
    logdir, samples_per_plugin: dict[str, int] | None = None
) -> Iterator[tb_provider.DataProvider]:
    """A data provider over the Rust data server of the installed `tensorboard_data_server`.

    The server loads the logdir once, in the background; it is stopped on exit (it stops when its
    stdin closes, which `SubprocessServerDataIngester` arranges with `--die-after-stdin`).
    """
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=0,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin=samples_per_plugin,
    )
    ingester.start()
    try:
        yield ingester.data_provider
    finally:
        ingester._stdin_handle.close()


def read_points(provider: tb_provider.DataProvider) -> PointsByRunAndTag:
    """Every kept point of our plugin's tags, by run and tag."""
    read = provider.read_tensors(
        context.RequestContext(), experiment_id="", plugin_name=PLUGIN_NAME, downsample=READ_ALL
    )
    return {
        run: {
            tag: [(d.step, d.numpy) for d in sorted(data, key=lambda d: d.step)]
            for tag, data in tags.items()
        }
        for run, tags in read.items()
    }


def read_points_when(
    provider: tb_provider.DataProvider, loaded: Callable[[PointsByRunAndTag], bool]
) -> PointsByRunAndTag:
    """`read_points` once `loaded` holds for them, for a loader that loads in the background.

    Gives up after `DATA_SERVER_LOAD_WAIT_S` and returns what there is, for the test to fail on.
    """
    deadline = time.monotonic() + DATA_SERVER_LOAD_WAIT_S
    points = read_points(provider)
    while not loaded(points) and time.monotonic() < deadline:
        time.sleep(0.1)
        points = read_points(provider)
    return points


def latest_steps_are(expected: dict[tuple[str, str], int]) -> Callable[[PointsByRunAndTag], bool]:
    """A `loaded` condition: each (run, tag) has its latest point at the given step."""

    def loaded(points: PointsByRunAndTag) -> bool:
        return all(
            points.get(run, {}).get(tag, [(None, None)])[-1][0] == step
            for (run, tag), step in expected.items()
        )

    return loaded


def plugin_contents(provider: tb_provider.DataProvider) -> dict[str, dict[str, bytes]]:
    """{run: {tag: plugin_data.content}} of our plugin's tensor tags (data class TENSOR only)."""
    listed = provider.list_tensors(
        context.RequestContext(), experiment_id="", plugin_name=PLUGIN_NAME
    )
    return {
        run: {tag: ts.plugin_content for tag, ts in tags.items()} for run, tags in listed.items()
    }


def _written_values(logdir) -> Iterator[tuple[str, int, summary_pb2.Summary.Value]]:
    """(run, step, summary value) of every value in the event files, in file order, no reservoir."""
    logdir = str(logdir)
    for directory in sorted(io_wrapper.GetLogdirSubdirectories(logdir)):
        run = os.path.relpath(directory, logdir)
        for path in sorted(io_wrapper.ListDirectoryAbsolute(directory)):
            if not io_wrapper.IsSummaryEventsFile(path):
                continue
            for event in event_file_loader.LegacyEventFileLoader(path).Load():
                for value in event.summary.value:
                    yield run, event.step, value


def written_points(logdir) -> PointsByRunAndTag:
    """Every point of our plugin as it is in the event files: the ground truth loaders are held to.

    A tag's metadata is on its first event only (as `tf.summary.write` does), so the plugin is
    recognised by the tag's first event.
    """
    points: PointsByRunAndTag = {}
    ours: set[tuple[str, str]] = set()
    for run, step, value in _written_values(logdir):
        if value.metadata.plugin_data.plugin_name == PLUGIN_NAME:
            ours.add((run, value.tag))
        if (run, value.tag) in ours:
            array = tensor_util.make_ndarray(value.tensor)
            points.setdefault(run, {}).setdefault(value.tag, []).append((step, array))
    return points


def written_metadata(logdir) -> dict[str, dict[str, summary_pb2.SummaryMetadata]]:
    """{run: {tag: the SummaryMetadata of the tag's first event}}, for every tag in the event files."""
    found: dict[str, dict[str, summary_pb2.SummaryMetadata]] = {}
    for run, _, value in _written_values(logdir):
        found.setdefault(run, {}).setdefault(value.tag, value.metadata)
    return found


def written_by_tag(writer, logdir) -> dict[str, list[tuple[int, np.ndarray]]]:
    """{tag: [(step, array)]} of our plugin in the run written directly in `logdir`, flushed first."""
    writer.flush()
    return written_points(logdir).get(".", {})
