"""The connection to a Ray cluster: Ray imported (an optional extra), an address checked, one connection per process.

:func:`connect` joins the cluster at an address (checked first with :func:`check_reachable`, which answers in seconds
where Ray would wait a minute), the Ray instance this process is connected to, or a local one it starts
(:func:`start_local_ray`, retried where Ray's node agent is slow to start on a busy machine); the connection stays
open for the next call. :mod:`dive.executors` runs tasks on it; :mod:`dive.search` runs Ray Tune there;
``python -m dive.report -p executor ray`` starts one instance for all notebooks.
"""

from __future__ import annotations

import os
import socket
import time

RAY_EXTRA_HINT = "pip install -e '.[ray]'  (or: pip install 'dive[ray]')"
CONNECT_TIMEOUT_S = 5.0


class RayUnavailableError(ImportError):
    """``executor="ray"`` was asked for, but Ray is not installed."""


class ClusterUnreachableError(ConnectionError):
    """The Ray cluster at the given address cannot be reached (raised before any run starts)."""


def import_ray():
    """Ray, imported here only: it is an optional extra (``pip install -e '.[ray]'``) that local runs never need."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailableError(
            f"executor='ray' needs Ray, which is not installed here ({err}). Install dive's extra: {RAY_EXTRA_HINT}"
        ) from err
    return ray


def host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` of an explicit address (``ray://`` defaults to 10001, a bare host to 6379)."""
    if address == "auto" or address.startswith("local"):
        return None
    rest, default = (address[len("ray://") :], 10001) if address.startswith("ray://") else (address, 6379)
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):  # [ipv6]:port
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
    try:
        return host, int(port) if port else default
    except ValueError:
        raise ClusterUnreachableError(
            f"Ray address {address!r} is not 'auto', 'host:port' or 'ray://host:port'"
        ) from None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ClusterUnreachableError` naming ``address`` when nothing answers there.

    Ray itself waits a minute or more on an address that does not answer; this takes ``timeout`` s.
    """
    hp = host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as err:
        raise ClusterUnreachableError(
            f"the Ray cluster at {address!r} is not reachable ({hp[0]}:{hp[1]}: {err}). Start one with "
            "`ray start --head` on the head node (and `ray start --address=<head>:6379` on the others), "
            "or give ray_address=None for a local Ray instance."
        ) from err


#: The address :func:`connect` connected this process with (absent: it has not, or Ray was shut down since).
_CONNECTED: dict = {}


def connect(ray, address: str | None) -> None:
    """Connect to Ray, once per process: the connection (and a local instance started here) stays open for
    the next call, whose tasks then reuse the same worker processes; ``ray.shutdown()`` ends it."""
    if address is None:
        address = os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_reachable(address)
    if ray.is_initialized():
        if "address" in _CONNECTED and address is not None and _CONNECTED["address"] != address:
            ray.shutdown()  # an earlier call connected elsewhere; this one names another cluster
        else:
            how = "still connected from an earlier call" if "address" in _CONNECTED else "this process is connected to"
            print(
                f"run_many: the Ray instance {how}; resources {resources_text(ray.cluster_resources())}",
                flush=True,
            )
            return
    _CONNECTED.clear()
    try:
        ctx = ray.init(address=address, log_to_driver=True) if address else start_local_ray()
    except Exception as err:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise ClusterUnreachableError(
            f"could not connect to {where}: {type(err).__name__}: {err}{auth_hint(err)}"
        ) from err
    _CONNECTED["address"] = address
    where = f"Ray cluster at {address}" if address else "a local Ray instance (started here; ray.shutdown() ends it)"
    print(f"run_many: {where}; resources {resources_text(ray.cluster_resources())}", flush=True)
    url = getattr(ctx, "dashboard_url", None)
    if url:
        print(f"run_many: Ray dashboard at {url if '://' in url else 'http://' + url}", flush=True)


def auth_hint(err: BaseException) -> str:
    """What to do when the cluster refused this process's (missing) token: Ray 2.60 (pinned here) starts clusters
    (``ray start --head``) with token authentication, and a driver that joins by ``host:port`` sends the
    token only with ``RAY_AUTH_MODE=token`` (``"auto"`` finds the mode itself)."""
    seen, e = [], err
    while e is not None and len(seen) < 10:
        seen.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    if not any("AuthToken" in t or "AuthenticationError" in t for t in seen):
        return ""
    return (
        ". The cluster uses token authentication: set RAY_AUTH_MODE=token here, with the cluster's token in "
        "~/.ray/auth_token (or $RAY_AUTH_TOKEN); on a node of the cluster, ray_address='auto' finds both"
    )


def current_address(ray=None) -> str | None:
    """The GCS address (``host:port``) of the Ray cluster this process is connected to (None: not connected):
    what other processes on the machine give as ``ray_address`` to join it."""
    ray = ray or import_ray()
    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().gcs_address


#: Seconds to wait before each further try of :func:`start_local_ray` (the machine gets time to calm down).
RAY_RETRY_PAUSES_S = (5.0, 20.0)
#: How long Ray's raylet waits for its agents to register on a retry (ms, longer than Ray's default), set through
#: Ray's own ``RAY_agent_register_timeout_ms`` for every try after the first.
RAY_RETRY_AGENT_TIMEOUT_MS = 120_000


def start_local_ray(attempts: int = 3, *, pauses_s=RAY_RETRY_PAUSES_S, **init_kwargs):
    """``ray.init(**init_kwargs)`` for a local Ray instance, tried up to ``attempts`` times.

    Ray's raylet gives up when its dashboard agent takes more than a fixed 15 s to start, which happens on a
    machine whose cores are all busy (ray-project/ray#65983). Each further try waits first (``pauses_s``: 5 s,
    then 20 s) and runs with a longer agent registration timeout (:data:`RAY_RETRY_AGENT_TIMEOUT_MS`, unless
    ``$RAY_agent_register_timeout_ms`` is set); only a start-up timeout is tried again. Raises RuntimeError
    naming every try's error.
    """
    ray = import_ray()
    errors = []
    for attempt in range(1, attempts + 1):
        env_key = "RAY_agent_register_timeout_ms"
        longer = attempt > 1 and env_key not in os.environ
        if longer:
            os.environ[env_key] = str(RAY_RETRY_AGENT_TIMEOUT_MS)  # read by the raylet this ray.init starts
        try:
            return ray.init(**init_kwargs)
        except Exception as err:
            ray.shutdown()
            errors.append(
                f"try {attempt}: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
            )
            if attempt == attempts or "timed out during startup" not in str(err):
                raise RuntimeError(
                    f"a local Ray instance did not start ({'; '.join(errors)}). Ray's node agent must start within "
                    "15 s (ray-project/ray#65983); on a busy machine start Ray once by hand (`ray start --head`) and "
                    "pass ray_address='auto'"
                ) from err
            pause = pauses_s[min(attempt - 1, len(pauses_s) - 1)] if pauses_s else 0.0
            print(f"run_many: the local Ray instance did not start ({err}); trying again in {pause:g} s", flush=True)
            time.sleep(pause)
        finally:
            if longer:
                os.environ.pop(env_key, None)
    raise AssertionError("unreachable")


def resources_text(res: dict) -> str:
    keys = [k for k in ("CPU", "GPU") if res.get(k)]
    return ", ".join(f"{res[k]:g} {k}" for k in keys) or "none"
