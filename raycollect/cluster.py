"""The Ray session of a run: start a local Ray or join a cluster, stop what was started, size the actors.

Without an address raycollect starts a new local Ray, deliberately not Ray's "join whatever local
cluster is recorded in /tmp/ray" default, which can point at a stale head; ``auto`` joins one started
with ``ray start``. A local Ray that raycollect started is stopped when the run ends, on an interrupt,
and (through :mod:`raycollect.reaper`) when the driver is killed. It starts without the head processes a
one-off, one-machine Ray never uses (the API server, the autoscaler's monitor, the log monitor): see
:func:`_lean_local_ray`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from raycollect.errors import ConfigurationError
from raycollect.reaper import Reaper, descendants

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")
_AUTH_HINT = ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a copy of the cluster's token (on the head node: "
              "~/.ray/auth_token), or RAY_AUTH_TOKEN to its value")

#: CPU each downloader actor asks for (see raycollect.actors for why).
ACTOR_CPUS = 0.5
#: Actors per CPU on one machine (no actor_resources), where not 1 / ACTOR_CPUS: the curl engine drives all its
#: transfers from one event loop on a fraction of a core, and fewer, busier actors leave the CPU to the work
#: (4,000 small files here: 2 actors x 64 transfers 1.34x raw s5cmd, 4 x 32 1.14x).
ACTORS_PER_CPU = {"curl": 1}


class RaySession:
    """``with RaySession(address): ...``: Ray is up inside, and what this started is stopped after."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self.started = False
        self.reaper: Reaper | None = None

    def __enter__(self) -> RaySession:
        import ray

        if ray.is_initialized():
            return self
        address = resolve_address(self.address or os.environ.get("RAY_ADDRESS") or "local")
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        before: dict[int, int] = {}
        if address == "local":
            kwargs["include_dashboard"] = False  # a one-off cluster: skip the dashboard's start-up cost
            before = descendants(os.getpid())  # the caller's own processes: not Ray's, spared by the reaper
            with _lean_local_ray(), _quiet_logger(_TOKEN_LOGGER):
                ray.init(address=address, **kwargs)
        else:
            with _http_address_set_aside():
                ray.init(address=address, **kwargs)
        self.started = True
        if address == "local":
            self.reaper = Reaper.start(spare=before)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.started:
            return
        import ray

        ray.shutdown()
        if self.reaper is not None:
            self.reaper.release()


#: Ray's head processes a local Ray of raycollect's does without, and what each would cost it (measured here).
_SKIPPED_HEAD_PROCESSES = (
    # The dashboard's head process (usage statistics, the job and state APIs), started even with
    # include_dashboard=False; ray.init waits for it to register: 0.9 s of every start, about 1 CPU-s.
    "start_api_server",
    # The autoscaler (0.45 CPU-s while Ray starts, and the full 1 s of SIGTERM grace that ray.shutdown gives each
    # process in turn, every time here): one machine, nothing to scale.
    "start_monitor",
    # Streams workers' output to drivers (0.5 CPU-s while Ray starts): the driver runs with log_to_driver=False.
    "start_log_monitor",
)


@contextlib.contextmanager
def _lean_local_ray() -> Any:
    """Inside: a new local Ray starts without the head processes in ``_SKIPPED_HEAD_PROCESSES``, and with a
    minimal dashboard agent.

    Together measured here: ``ray.init`` 2.0-3.2 s instead of 3.9-4.4 s, ``ray.shutdown`` 0.15-0.4 s instead of
    1.2-1.5 s, and about 2 CPU-s less that a two-core machine's first transfers would compete with. A local Ray
    of raycollect's serves only this driver and stops with it; to watch a run in the dashboard, start Ray with
    ``ray start --head`` and run with ``--ray-address auto``. ``Node`` is Ray's private class (ray is pinned to
    2.60 in pyproject.toml): a module or method that moved is left alone, and Ray starts as it always did.
    """
    try:
        import ray._private.utils as utils
        from ray._private.node import Node
    except ImportError:
        yield
        return
    originals = {name: Node.__dict__[name] for name in _SKIPPED_HEAD_PROCESSES if name in Node.__dict__}

    def skip_api_server(self: Any, *, include_dashboard: bool | None, raise_on_failure: bool) -> None:
        self._webui_url = None  # what Ray records when its dashboard fails to start: no URL

    def skip(self: Any) -> None:
        return None

    for name in originals:
        setattr(Node, name, skip_api_server if name == "start_api_server" else skip)
    # The raylet's dashboard agent runs ``--minimal`` (the modules that serve the dashboard and metrics, which this
    # Ray has no use for, are not loaded) instead of the driver importing aiohttp and the dashboard's other
    # optional dependencies only to decide that (0.5 s in ray.init; ray.init 1.71-2.81 s, median 1.80, against
    # 1.95-3.16 s, median 2.10, over 8 interleaved starts here).
    check = getattr(utils, "get_dashboard_dependency_error", None)
    if check is not None:
        utils.get_dashboard_dependency_error = _minimal_dashboard_agent
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Node, name, original)
        if check is not None:
            utils.get_dashboard_dependency_error = check


def _minimal_dashboard_agent() -> ImportError:
    return ImportError("a local Ray of raycollect's runs the dashboard agent minimal")


def check_cluster(address: str | None) -> None:
    """Preflight for Ray: a cluster to join (``--ray-address`` or RAY_ADDRESS) is reachable and accepts us."""
    resolved = resolve_address(address or os.environ.get("RAY_ADDRESS") or "local")
    if resolved != "local":
        probe_cluster(resolved)


def resolve_address(address: str) -> str:
    """What ``ray.init`` should be given. ``http://HOST:8265`` is the jobs API (for ``ray job submit``):
    on this machine it means the cluster running here (``auto``); elsewhere it cannot be joined as such."""
    if not address.startswith(("http://", "https://")):
        return address
    host = urlsplit(address).hostname or ""
    if host in _LOCAL_HOSTS:
        return "auto"
    raise ConfigurationError(
        f"RAY_ADDRESS={address} is the address of Ray's job API (for `ray job submit`), which `raycollect run` "
        "cannot join: submit the collection with `ray job submit ... -- python jobs/collect.py --config CONFIG`, or "
        "run raycollect on a node of the cluster with --ray-address auto")


#: Ray warns, on stderr and in the middle of a progress bar, that the local Ray it starts has token
#: authentication on: for a Ray raycollect starts for itself (and stops), that is its own business.
_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _quiet_logger(name: str) -> Any:
    """Only errors of the logger ``name`` while inside."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def _http_address_set_aside() -> Any:
    """``RAY_ADDRESS=http://127.0.0.1:8265`` (the job API) is resolved to ``auto`` here, but ``ray.init("auto")``
    reads RAY_ADDRESS again and refuses an HTTP address: while Ray starts, the variable is set aside."""
    value = os.environ.get("RAY_ADDRESS")
    if value is None or not value.startswith(("http://", "https://")):
        yield
        return
    del os.environ["RAY_ADDRESS"]
    try:
        yield
    finally:
        os.environ["RAY_ADDRESS"] = value


def _token_auth_on() -> bool:
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(token_path).is_file()  # Ray turns it on then


def probe_cluster(address: str, timeout: float = 3.0) -> None:
    """Before ``ray.init`` joins a cluster: ConfigurationError within seconds when it cannot be reached, or
    rejects us for want of a token (``ray.init`` would retry for about 20 s, then say only ConnectionError)."""
    if address.startswith("ray://") or _token_auth_on():
        return  # Ray Client, or a token will be sent: ray.init reports on its own
    gcs = address
    if address == "auto":
        current = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
        try:
            gcs = current.read_text().split()[0]
        except (OSError, IndexError):
            raise ConfigurationError("no Ray cluster is running on this machine (--ray-address auto / RAY_ADDRESS="
                                     "auto): start one with `ray start --head`, or unset RAY_ADDRESS to let raycollect "
                                     "start a local Ray") from None
    import grpc

    channel = grpc.insecure_channel(gcs)
    try:
        call = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")
        call(b"", timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise ConfigurationError(f"the Ray cluster at {gcs} requires token authentication: {_AUTH_HINT}") from None
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise ConfigurationError(f"cannot reach the Ray cluster at {gcs} ({code.name.lower()}): check "
                                     "RAY_ADDRESS or --ray-address") from None
    finally:
        channel.close()


def actor_slots(resources: dict[str, int], engine: str = "") -> int:
    """How many actors the cluster can hold now: by the custom resource when set, else per CPU (below)."""
    import ray

    total = ray.cluster_resources()
    if resources:
        return min(int(total.get(name, 0) // amount) for name, amount in resources.items())
    return int(float(total.get("CPU", 1)) * ACTORS_PER_CPU.get(engine, 1 / ACTOR_CPUS))


def actor_count(config: WorkflowConfig, *, placed: bool = True) -> int:
    """How many downloader actors a run starts: ``num_actors`` when set; on a cluster (``actor_resources``)
    ``max_actors`` (those Ray cannot place yet are demand the autoscaler answers); on one machine as many as its
    CPUs hold, at most ``max_parallel_downloads``. ``placed=False`` (before Ray starts): that upper bound."""
    if config.num_actors:
        return int(config.num_actors)
    if config.actor_resources:
        return int(config.max_actors)
    if not placed:
        return int(config.max_parallel_downloads)
    return max(1, min(config.max_parallel_downloads, actor_slots(config.actor_resources, config.downloader)))
