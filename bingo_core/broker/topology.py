"""What ``check`` reports about Redis: the mode and each node, as Redis itself sees it.

- standalone: the server;
- Sentinel: each sentinel (reachable, which master it names, whether it sees it down),
  the master (pinged through redis-py's Sentinel client) and its replicas;
- Cluster: every node of the slot map with its slots (pinged one by one), and the
  cluster's own state (``cluster_state``, slot coverage).

Every node down is one problem line naming it; :func:`describe` raises
:class:`~bingo_core.errors.ServiceUnavailable` only when nothing answers at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc

from .connection import CONNECTION_ERRORS, sentinel_kwargs, short_reason, split, unavailable

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

SLOTS = 16384


@dataclass
class Node:
    """One Redis process: its role, address, whether it answered, and what it reported
    (slots, the master it names) or why it did not answer."""

    role: str  # "server", "master", "replica" or "sentinel"
    address: str
    ok: bool
    detail: str = ""


@dataclass
class Topology:
    """The Redis deployment: ``mode`` (standalone, sentinel, cluster), its nodes and one
    line per problem found (a node down, sentinels that disagree, uncovered slots)."""

    mode: str
    nodes: list[Node] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    master: str = ""

    def summary(self) -> str:
        """One line: the mode and every node."""
        if self.mode == "sentinel":
            sentinels = [n.address for n in self.nodes if n.role == "sentinel"]
            replicas = [n.address for n in self.nodes if n.role == "replica"]
            return (
                f"{self.master or '?'} (sentinel master; replicas: {', '.join(replicas) or 'none'}"
                f"; sentinels: {', '.join(sentinels)})"
            )
        if self.mode == "cluster":
            parts = [
                f"{n.address} {n.role}" + (f" {n.detail}" if n.detail else "") for n in self.nodes
            ]
            masters = sum(1 for n in self.nodes if n.role == "master")
            return f"cluster of {masters} masters ({'; '.join(parts)})"
        return f"{self.master} (standalone)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "master": self.master,
            "nodes": [vars(n) for n in self.nodes],
            "problems": list(self.problems),
        }


def describe(cfg: RedisSettings, client: Any) -> Topology:
    """The deployment behind ``client`` (a client built by :mod:`.connection`)."""
    if cfg.sentinel is not None:
        return _sentinel(cfg, client)
    if cfg.cluster is not None:
        return _cluster(cfg, client)
    try:
        client.ping()
    except (*CONNECTION_ERRORS, rexc.ResponseError) as exc:
        raise unavailable(cfg, exc) from None
    return Topology("standalone", [Node("server", cfg.address, True)], master=cfg.address)


def _ranges(slots: list[tuple[int, int]]) -> str:
    return "slots " + ",".join(f"{a}-{b}" if a != b else str(a) for a, b in sorted(slots))


def _cluster(cfg: RedisSettings, client: Any) -> Topology:
    top = Topology("cluster")
    slot_map: dict[Any, Any] | None = None
    info: dict[str, Any] | None = None
    for node in client.get_nodes():
        try:
            slot_map = client.cluster_slots(target_nodes=node)
            info = client.cluster_info(target_nodes=node)
            break
        except CONNECTION_ERRORS:
            continue
    if slot_map is None:
        raise unavailable(cfg, rexc.ConnectionError("no cluster node answered"))
    owned: dict[str, list[tuple[int, int]]] = {}
    roles: dict[str, str] = {}
    replica_of: dict[str, str] = {}
    for (start, end), where in slot_map.items():
        primary = "{}:{}".format(*where["primary"][:2])
        owned.setdefault(primary, []).append((int(start), int(end)))
        roles[primary] = "master"
        for replica in where.get("replicas", []):
            name = "{}:{}".format(*replica[:2])
            roles.setdefault(name, "replica")
            replica_of[name] = primary
    for node in client.get_nodes():
        roles.setdefault(node.name, "master" if node.server_type == "primary" else "replica")
    covered = 0

    def order(n: str) -> tuple[bool, tuple[int, int]]:
        return roles[n] != "master", min(owned.get(n, [(SLOTS, 0)]))

    for name in sorted(roles, key=order):
        role = roles[name]
        detail = _ranges(owned[name]) if name in owned else ""
        if role == "replica" and name in replica_of:
            detail = f"replica of {replica_of[name]}"
        covered += sum(b - a + 1 for a, b in owned.get(name, []))
        ok = True
        node = client.get_node(node_name=name)
        try:
            if node is None:
                raise rexc.ConnectionError("not in the client's slot map")
            node.redis_connection.ping()
        except (*CONNECTION_ERRORS, rexc.ResponseError) as exc:
            ok = False
            what = f" ({detail})" if detail else ""
            top.problems.append(
                f"Redis cluster node {name}{what} is not reachable: {short_reason(exc)}"
            )
        top.nodes.append(Node(role, name, ok, detail))
    state = (info or {}).get("cluster_state", "ok")
    if state != "ok":
        top.problems.append(
            f"Redis cluster state is {state!r} (as reported by a node that answered): "
            "commands are refused until every slot is served again"
        )
    if covered < SLOTS:
        top.problems.append(f"Redis cluster serves {covered} of {SLOTS} slots")
    return top


def _sentinel(cfg: RedisSettings, client: Any) -> Topology:
    assert cfg.sentinel is not None
    name = cfg.sentinel.master_name
    top = Topology("sentinel")
    named: dict[str, list[str]] = {}
    replicas: list[dict[str, Any]] | None = None
    kwargs = sentinel_kwargs(cfg)
    for hostport in cfg.sentinel.hosts:
        host, port = split(hostport)
        conn = redis.Redis(host=host, port=port, decode_responses=True, **kwargs)
        try:
            state: Any = conn.sentinel_master(name)
            if replicas is None:
                replicas = list(conn.sentinel_slaves(name))
        except CONNECTION_ERRORS as exc:
            top.problems.append(f"Redis sentinel {hostport} is not reachable: {short_reason(exc)}")
            top.nodes.append(Node("sentinel", hostport, False, short_reason(exc)))
            continue
        except rexc.ResponseError as exc:
            top.problems.append(
                f"Redis sentinel {hostport} does not monitor a master named {name!r} "
                f"({short_reason(exc)}; check redis.sentinel.masterName)"
            )
            top.nodes.append(Node("sentinel", hostport, False, "master unknown"))
            continue
        finally:
            conn.close()
        named_master = f"{state['ip']}:{state['port']}"
        named.setdefault(named_master, []).append(hostport)
        down = state.get("is_sdown") or state.get("is_odown")
        if down:
            top.problems.append(
                f"Redis sentinel {hostport} sees master {name!r} at {named_master} down "
                f"({state.get('flags', '')}): a failover is due"
            )
        top.nodes.append(Node("sentinel", hostport, True, f"names {named_master}"))
    if len(named) > 1:
        views = "; ".join(f"{m} by {', '.join(h)}" for m, h in named.items())
        top.problems.append(f"Redis sentinels disagree on the master of {name!r}: {views}")
    if named:
        top.master = max(named, key=lambda m: len(named[m]))
    try:
        client.ping()
        master = Node("master", top.master, True, name)
    except (*CONNECTION_ERRORS, rexc.ResponseError) as exc:
        top.problems.append(str(unavailable(cfg, exc)))
        master = Node("master", top.master or "?", False, short_reason(exc))
    found = []
    for replica in replicas or []:
        address = f"{replica['ip']}:{replica['port']}"
        flags = str(replica.get("flags", ""))
        bad = bool(replica.get("is_sdown") or replica.get("is_odown") or "disconnected" in flags)
        if bad:
            top.problems.append(
                f"Redis replica {address} of {name!r} is down ({flags}): "
                "a failover cannot promote it"
            )
        found.append(Node("replica", address, not bad, f"of {top.master}"))
    top.nodes = [master, *found, *top.nodes]
    return top
