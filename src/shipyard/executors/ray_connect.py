"""Reaching a Ray cluster from the runner: import Ray (with an install hint), probe the address
fast, connect, tell whether every node shares this machine's filesystem, and refuse store
settings that cannot work across machines."""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import socket
from typing import Any

from shipyard.core.errors import ConfigurationError, FlowError
from shipyard.core.settings import Settings

INSTALL_HINT = "the ray executor needs Ray: pip install 'shipyard[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a one-line ConfigurationError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigurationError(INSTALL_HINT) from None


def resolve_address(address: str | None) -> str | None:
    """``--ray-address``, else ``RAY_ADDRESS``; None starts a Ray instance on this machine."""
    value = address or os.environ.get("RAY_ADDRESS") or None
    return None if value in (None, "", "local") else value


def split_host_port(address: str) -> tuple[str, int | None]:
    rest = address.split("://", 1)[1] if "://" in address else address
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):  # [::1]:6379
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
    return host, int(port) if port.isdigit() else None


def local_addresses() -> set[str]:
    """This machine's IP addresses and names (loopback included)."""
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    try:
        import psutil

        families = (socket.AF_INET, socket.AF_INET6)
        for addrs in psutil.net_if_addrs().values():
            names.update(a.address.split("%", 1)[0] for a in addrs if a.family in families)
    except (ImportError, OSError):
        pass
    return names


def is_local_host(host: str, local: set[str] | None = None) -> bool:
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    return host in (local if local is not None else local_addresses())


def address_is_local(address: str | None) -> bool:
    """Whether the address names this machine (None/"auto" find or start a local instance)."""
    if address is None or address == "auto":
        return True
    host, _ = split_host_port(address)
    return is_local_host(host)


def probe(address: str, timeout_s: float) -> None:
    """FlowError, fast, when nothing listens at ``address`` (before Ray's long connect retries)."""
    if address == "auto":
        return
    host, port = split_host_port(address)
    if port is None:
        raise ConfigurationError(f"invalid Ray address {address!r}; use HOST:PORT (e.g. 127.0.0.1:6379)")
    reason = _gcs_answers(host, port, timeout_s, grpc_check="://" not in address)
    if reason is not None:
        raise FlowError(
            f"cannot reach the Ray cluster at {address}: {reason}; "
            "start it with `ray start --head` or pass the right --ray-address"
        )


def _gcs_answers(host: str, port: int, timeout_s: float, grpc_check: bool = True) -> str | None:
    """None when a Ray GCS answers at host:port (one gRPC call), else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
        return f"{why} (connect timeout {timeout_s:g}s)"
    if not grpc_check:
        return None
    try:
        grpc: Any = importlib.import_module("grpc")
        pb2: Any = importlib.import_module("ray.core.generated.gcs_service_pb2")
        pb2_grpc: Any = importlib.import_module("ray.core.generated.gcs_service_pb2_grpc")
    except ImportError:  # a Ray without the generated stubs: let ray.init find out
        return None
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(pb2.GetClusterIdRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code().name.lower().replace("_", " ") if hasattr(exc, "code") else "error"
            return f"something listens there but it is not a Ray head node ({code})"
    return None


def check_stores(settings: Settings, where: str) -> None:
    """ConfigurationError when the stores cannot be shared by the nodes of a remote cluster."""
    problems = []
    if settings.metadata_uri.startswith("sqlite"):
        problems.append(
            "metadata is a SQLite file on this machine (set SHIPYARD_URI=postgresql://... "
            "or a shipyard server URL https://...)"
        )
    if settings.artifacts is None:
        problems.append(
            "artifacts are a local folder (set SHIPYARD_ARTIFACTS=s3://bucket/prefix "
            "or a folder every node shares)"
        )
    if problems:
        raise ConfigurationError(f"{where} spans other machines, so: {'; '.join(problems)}")


def connect(ray: Any, address: str | None, connect_timeout_s: float) -> None:
    """``ray.init`` once per process (reused across runs); reconnect when the address changes."""
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address in (None, "auto") or _same_address(current, address):
            return
    if address is not None:
        probe(address, connect_timeout_s)  # before dropping a working connection
    if ray.is_initialized():
        ray.shutdown()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(
            address=address,
            logging_level=logging.WARNING,
            log_to_driver=False,
            include_dashboard=False if address is None else None,
            configure_logging=True,
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise FlowError(f"cannot connect to {where}: {first}") from None
    _cluster_errors_to_stderr()


def _cluster_errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages (a node died, with its raylet's last log
    lines) to stdout; shipyard's stdout is the run id or JSON, so send them to stderr."""
    try:
        worker: Any = importlib.import_module("ray._private.worker")
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_shipyard_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True} if data.get("pid") == "raylet" else data, ignore_prefix)

    to_stderr._shipyard_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _same_address(current: str | None, wanted: str) -> bool:
    if not current:
        return False
    a, b = split_host_port(current), split_host_port(wanted)
    if a[1] != b[1]:
        return False
    return a[0] == b[0] or (is_local_host(a[0]) and is_local_host(b[0]))


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def cluster_is_local(nodes: list[dict[str, Any]]) -> bool:
    """Whether every node runs on this machine (so they all see its files)."""
    local = local_addresses()
    return all(is_local_host(str(n.get("NodeManagerAddress", "")), local) for n in nodes)
