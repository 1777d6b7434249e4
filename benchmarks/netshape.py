"""A shaped link on this machine: what shaping needs, a network namespace's loopback prepared for
it, tc's token bucket at a rate (and netem at a delay), and the goodput a bulk TCP transfer gets
through it. ``benchmarks.link_check`` runs its pipelines over it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time


def missing_tools() -> str | None:
    """What this machine lacks to shape a link in a namespace of its own, or None."""
    if os.geteuid() != 0:
        return "link-check: needs root (it creates a network namespace and shapes it with tc); run it as root"
    for tool in ("unshare", "tc", "ip"):
        if shutil.which(tool) is None:
            return f"link-check: no `{tool}` on PATH (Debian: util-linux for unshare, iproute2 for tc and ip)"
    return None


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def prepare_namespace() -> None:
    """Inside the new namespace: loopback up at MTU 1500, TCP keeping its window when idle."""
    sh("ip", "link", "set", "lo", "up", "mtu", "1500")
    with open("/proc/sys/net/ipv4/tcp_slow_start_after_idle", "w") as f:
        f.write("0")


def shape(link) -> bool:
    """tbf at the link's rate (a queue deep enough for a whole payload) and netem at its delay
    on loopback; None: unshaped. False when the kernel has no netem (the delay then has to be
    added by the senders)."""
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)
    if link is None:
        return True
    rate = f"{int(link.bits_per_s)}bit"
    sh(
        "tc",
        "qdisc",
        "add",
        "dev",
        "lo",
        "root",
        "handle",
        "1:",
        "tbf",
        "rate",
        rate,
        "burst",
        "256kb",
        "limit",
        "256mb",
    )
    if link.latency_s > 0:
        netem = ["tc", "qdisc", "add", "dev", "lo", "parent", "1:1", "handle", "10:", "netem", "delay"]
        r = subprocess.run([*netem, f"{link.latency_s * 1e3:g}ms", "limit", "1000000"], capture_output=True)
        return r.returncode == 0
    return True


def goodput_mbit(nbytes: int = 16 << 20) -> float:
    """A bulk TCP transfer through the (shaped) loopback, in Mbit/s of payload."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    done = threading.Event()

    def sink():
        conn, _ = srv.accept()
        got = 0
        while got < nbytes:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        conn.sendall(b"k")
        conn.close()
        done.set()

    threading.Thread(target=sink, daemon=True).start()
    with socket.create_connection(("127.0.0.1", port)) as c:
        t0 = time.perf_counter()
        c.sendall(bytes(nbytes))
        c.recv(1)
        took = time.perf_counter() - t0
    done.wait(10)
    srv.close()
    return nbytes * 8 / took / 1e6
