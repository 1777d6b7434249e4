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


def burst_bytes(link) -> int:
    """tbf's bucket: 1 ms at the rate, at least two full-size frames. A bucket the link refills
    while idle lets that many bytes through at once: the 256 kB one used before was 0.2 s of a
    10 Mbit/s link, handed to every step that began after a pause, which made a shaped
    step up to 20% faster than its link (tbf cuts larger GSO segments to fit)."""
    return max(2 * 1514, int(link.bits_per_s / 8 * 1e-3))


def shape(link, dev: str = "lo", ns: str | None = None) -> bool:
    """tbf at the link's rate (a bucket of ``burst_bytes``, a queue deep enough for a whole
    payload) and netem at its delay on a device's egress (loopback by default; in namespace
    ``ns``); None: unshaped. False when the kernel has no netem (the delay then has to be added by the senders)."""
    tc = ["tc", *(["-n", ns] if ns else [])]
    subprocess.run([*tc, "qdisc", "del", "dev", dev, "root"], capture_output=True)
    if link is None:
        return True
    rate = f"{int(link.bits_per_s)}bit"
    sh(*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:", "tbf", "rate", rate, "burst", str(burst_bytes(link)),
       "limit", "256mb")  # fmt: skip
    if link.latency_s > 0:
        netem = [*tc, "qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "netem", "delay"]
        r = subprocess.run([*netem, f"{link.latency_s * 1e3:g}ms", "limit", "1000000"], capture_output=True)
        return r.returncode == 0
    return True


class Loopback:
    """Every stage on this namespace's loopback (link-check runs in a namespace of its own)."""

    def __init__(self, stages: int):
        prepare_namespace()
        self.hosts, self.wrap = ["127.0.0.1"] * stages, None

    def shape(self, link) -> bool:
        return shape(link)

    def goodput(self) -> float:
        return goodput_mbit()

    def close(self) -> None:
        shape(None)


class VethChain:
    """One network namespace per stage, consecutive ones joined by a veth pair (10.77.<cut>.1 on
    the earlier stage's end, .2 on the later one's), both ends shaped: the bytes cross a real
    interface pair and each namespace's TCP stack, as between two hosts. As root."""

    def __init__(self, stages: int):
        self.names = [f"compsweep{os.getpid()}s{r}" for r in range(stages)]
        self.ends: list[tuple[str, str]] = []
        try:
            for ns in self.names:
                sh("ip", "netns", "add", ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_slow_start_after_idle=0")
            for j in range(stages - 1):
                a, b = f"cut{j}a", f"cut{j}b"
                sh("ip", "link", "add", a, "netns", self.names[j], "type", "veth", "peer", "name", b,
                   "netns", self.names[j + 1])  # fmt: skip
                for ns, dev, host in ((self.names[j], a, 1), (self.names[j + 1], b, 2)):
                    sh("ip", "-n", ns, "addr", "add", f"10.77.{j}.{host}/24", "dev", dev)
                    sh("ip", "-n", ns, "link", "set", dev, "up")
                    self.ends.append((ns, dev))
        except subprocess.CalledProcessError:
            self.close()
            raise
        self.hosts = ["0.0.0.0"] + [f"10.77.{r - 1}.2" for r in range(1, stages)]  # where stage r listens
        self.wrap = [["ip", "netns", "exec", ns] for ns in self.names]

    def shape(self, link) -> bool:
        ok = True
        for ns, dev in self.ends:
            ok &= shape(link, dev, ns)
        return ok

    def goodput(self) -> float:
        """A bulk transfer from the first namespace to the second, in Mbit/s of payload."""
        import sys

        n = 16 << 20
        sink = subprocess.Popen([*self.wrap[1], sys.executable, "-m", "benchmarks.netshape", "sink", "10.77.0.2:5999",
                                 str(n)], stdout=subprocess.PIPE, text=True)  # fmt: skip
        src = subprocess.run([*self.wrap[0], sys.executable, "-m", "benchmarks.netshape", "send", "10.77.0.2:5999",
                              str(n)], capture_output=True, text=True, timeout=600)  # fmt: skip
        sink.wait(timeout=60)
        return float(src.stdout.strip() or "nan")

    def close(self) -> None:
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def goodput_mbit(nbytes: int = 16 << 20) -> float:
    """A bulk TCP transfer through the (shaped) loopback, in Mbit/s of payload."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    sink = threading.Thread(target=_drain, args=(srv, nbytes), daemon=True)
    sink.start()
    with socket.create_connection(("127.0.0.1", port)) as c:
        mbit = _timed_send(c, nbytes)
    sink.join(10)
    srv.close()
    return mbit


def _drain(srv: socket.socket, nbytes: int) -> None:
    """The receiving end of a goodput transfer: take nbytes, then acknowledge with one byte."""
    conn, _ = srv.accept()
    got = 0
    while got < nbytes:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    conn.sendall(b"k")
    conn.close()


def _timed_send(c: socket.socket, nbytes: int) -> float:
    """The sending end: nbytes until the receiver's acknowledgement, in Mbit/s of payload."""
    t0 = time.perf_counter()
    c.sendall(bytes(nbytes))
    c.recv(1)
    return nbytes * 8 / (time.perf_counter() - t0) / 1e6


if __name__ == "__main__":  # the two ends of VethChain.goodput, one in each namespace
    import sys

    from benchmarks.pipeline import connect

    what, addr, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "sink":
        host, port = addr.rsplit(":", 1)
        with socket.create_server((host, int(port))) as server:
            _drain(server, size)
    else:
        with connect(addr) as sock:
            print(f"{_timed_send(sock, size):.3f}")
