"""A real pipeline: one process per stage, consecutive stages joined over TCP, each cut sending
``Payload.to_bytes()`` forward and the gradient's payload backward, and decoding what it
receives. Every stage builds the same run (``trainables.<family>.loop``: same seed, same
initial weights, same batches) and owns the layers between its input cut and its output cut:

- the layers before its input cut run without autograd (their output is replaced by the
  decoded activation it receives; this costs forward compute, not link time);
- at its output cut it encodes the activation (stateful methods: with the batch's example ids),
  sends it, stops its forward, waits for the gradient's payload, and backpropagates it;
- its optimizer steps the parameters that got gradients (its own layers).

Stage 0 runs the steps and times each one (its forward to its optimizer step: the whole
pipeline's step, as nothing is overlapped). A phase of N steps is asked for on stage 0's stdin
(``run N``) and answered on its stdout with a JSON line; every stage reports the bytes of its
output cut per phase and, the last, its losses, as JSON lines when ``quit`` ends the run.

    python -m benchmarks.pipeline --rank R --stages S --listen HOST:PORT --connect HOST:PORT --config JSON
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time

import torch

TENSOR, PHASE, QUIT, DELAY = 0, 1, 2, 3
_HEAD = struct.Struct("<BQ")


def send(sock: socket.socket, kind: int, data: bytes = b"") -> None:
    sock.sendall(_HEAD.pack(kind, len(data)))
    if data:
        sock.sendall(data)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("the neighbouring stage closed the connection")
        got += k
    return bytes(buf)


def recv(sock: socket.socket) -> tuple[int, bytes]:
    kind, n = _HEAD.unpack(_exact(sock, _HEAD.size))
    return kind, _exact(sock, n) if n else b""


def listen(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    srv = socket.create_server((host, int(port)))
    conn, _ = srv.accept()
    srv.close()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def connect(address: str, seconds: float = 120) -> socket.socket:
    host, port = address.rsplit(":", 1)
    end = time.time() + seconds
    while True:
        try:
            sock = socket.create_connection((host, int(port)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)


class StopStage(Exception):  # noqa: N818 - control flow: this stage's part of the forward is done
    pass


class Stage:
    """One stage's cut hooks and step (see the module docstring)."""

    def __init__(self, rank: int, stages: int, loop, cuts, prev: socket.socket | None, nxt: socket.socket | None):
        self.rank, self.last, self.loop = rank, rank == stages - 1, loop
        self.prev, self.next = prev, nxt
        self.ids, self.pending = None, None
        self.delay = 0.0  # one-way latency added before each tensor is sent (where netem is missing)
        self.sent, self.out_act, self.in_act = 0, None, None
        self.kept_in = self.kept_out = None  # a sparsifying forward's positions at each cut
        for b in loop.boundaries:
            b.enabled = False  # the compressors are used here, over the wire, not in-process
        self.handles = []
        for j, cut in enumerate(cuts):
            role = "in" if j == rank - 1 else "out" if j == rank else None
            if role:
                hook = self._pre(role, j) if cut.pre else self._post(role, j)
                register = cut.module.register_forward_pre_hook if cut.pre else cut.module.register_forward_hook
                self.handles.append(register(hook))

    def _post(self, role, j):
        def hook(module, inputs, output):
            head = output[0] if isinstance(output, tuple) else output
            new = self._cross(role, j, head)
            return (new, *output[1:]) if isinstance(output, tuple) else new

        return hook

    def _pre(self, role, j):
        def hook(module, inputs):
            return (self._cross(role, j, inputs[0]), *inputs[1:])

        return hook

    def _cross(self, role: str, j: int, x: torch.Tensor) -> torch.Tensor:
        from compression import Payload

        b = self.loop.boundaries[j]
        if role == "out":
            payload = b.fwd.encode_ids(x, self.ids) if b.stateful else b.fwd.encode(x)
            data = payload.to_bytes()
            self.sent += len(data)
            self._wait()
            send(self.next, TENSOR, data)
            if b.bwd.pairs_with:  # a backward that sends values at the forward's kept positions only
                self.kept_out = kept_positions(b.fwd, payload)
            self.out_act = x
            raise StopStage
        data, self.pending = self.pending, None  # serve() read it off the socket
        payload = Payload.from_bytes(data)
        x_hat = b.fwd.decode_ids(payload, x.device) if b.stateful else b.fwd.decode(payload, x.device)
        if b.bwd.pairs_with:
            self.kept_in = kept_positions(b.fwd, payload)
        torch.set_grad_enabled(True)  # this stage's own layers start here
        # in the activation's own memory layout (channels_last after a permuted input): the same
        # kernels, so the same arithmetic, as the one-process run
        self.in_act = torch.empty_like(x).copy_(x_hat.view(x.shape)).requires_grad_()
        return self.in_act

    def _send_grad(self) -> None:
        from compression import Payload

        b = self.loop.boundaries[self.rank - 1]
        g = self.in_act.grad
        if b.bwd.pairs_with:
            payload = Payload(tuple(g.shape), g.dtype, [g.reshape(-1)[self.kept_in].contiguous().cpu()])
        else:
            payload = b.bwd.encode(g)
        data = payload.to_bytes()
        self.sent += len(data)
        self._wait()
        send(self.prev, TENSOR, data)

    def _recv_grad(self) -> torch.Tensor:
        from compression import Payload

        b = self.loop.boundaries[self.rank]
        _, data = recv(self.next)
        payload = Payload.from_bytes(data)
        x = self.out_act
        if b.bwd.pairs_with:
            g = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
            g[self.kept_out] = payload.arrays[0].to(x.device, x.dtype)
            return torch.empty_like(x).copy_(g.view(x.shape))
        return torch.empty_like(x).copy_(b.bwd.decode(payload, x.device).view(x.shape))

    def _wait(self) -> None:
        if self.delay > 0:
            time.sleep(self.delay)

    def step(self, inputs, labels, ids) -> float | None:
        """One training step of this stage; the loss on the last stage."""
        lp, loss = self.loop, None
        self.ids = ids
        lp.optimizer.zero_grad(set_to_none=True)
        torch.set_grad_enabled(self.rank == 0)  # later stages: autograd from their input cut on
        try:
            loss = lp.loss_fn(inputs, labels)
            loss.backward()
        except StopStage:
            self.out_act.backward(self._recv_grad())
        finally:
            torch.set_grad_enabled(True)
        if self.rank > 0:
            self._send_grad()
        lp.optimizer.step()
        lp.scheduler.step()
        return None if loss is None else float(loss.detach())


def kept_positions(comp, payload) -> torch.Tensor:
    """Where a sparsifying forward kept values: its own decoder run on ones for the values."""
    from compression import Payload

    ones = Payload(payload.shape, torch.float32, [torch.ones_like(payload.arrays[0]), *payload.arrays[1:]])
    return comp.decode(ones).reshape(-1).nonzero().view(-1)


def batches_forever(loop):
    while True:
        yield from loop.batches()


def serve(stage: Stage, loop, control) -> None:
    """Stage 0: phases as asked on ``control`` (run N / quit), a JSON line of step times and
    bytes each; the others follow the messages and print their bytes per phase and losses."""
    phases, losses = [], []  # the later stages' record
    data = batches_forever(loop)
    if stage.rank == 0:
        for line in control:
            if line.strip() == "quit":
                if stage.next is not None:
                    send(stage.next, QUIT)
                break
            words = line.split()
            n, times, stage.sent = int(words[1]), [], 0
            stage.delay = float(words[2]) if len(words) > 2 else 0.0
            if stage.next is not None:
                send(stage.next, DELAY, struct.pack("<d", stage.delay))
            for _ in range(n):
                inputs, labels, ids = next(data)
                t0 = time.perf_counter()
                stage.step(inputs, labels, ids)
                times.append(time.perf_counter() - t0)
            if stage.next is not None:
                send(stage.next, PHASE)
            print(json.dumps({"rank": 0, "step_s": times, "bytes": stage.sent}), flush=True)
        return
    while True:
        kind, data_bytes = recv(stage.prev)
        if kind == DELAY:
            stage.delay = struct.unpack("<d", data_bytes)[0]
            if stage.next is not None:
                send(stage.next, DELAY, data_bytes)
            continue
        if kind == QUIT or kind == PHASE:
            phases.append({"bytes": stage.sent, "steps": 0})
            stage.sent = 0
            if stage.next is not None:
                send(stage.next, kind)
            if kind == QUIT:
                print(json.dumps({"rank": stage.rank, "phases": phases, "losses": losses}), flush=True)
                return
            continue
        stage.pending = data_bytes
        inputs, labels, ids = next(data)
        losses.append(stage.step(inputs, labels, ids))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--stages", type=int, required=True)
    p.add_argument("--listen", help="this stage's address (every stage but the first)")
    p.add_argument("--connect", help="the next stage's address (every stage but the last)")
    p.add_argument("--config", required=True, help="the run's config as JSON (the same on every stage)")
    args = p.parse_args(argv)
    import trainables
    from trainables import placement

    config = json.loads(args.config)
    fam = trainables.family(config["task"])
    loop = fam.loop(config)
    cuts = placement.resolve(loop.model, fam.resolve(config)["placement"])
    if len(cuts) != args.stages - 1:
        print(f"pipeline: {len(cuts)} cuts need {len(cuts) + 1} stages, not {args.stages}", file=sys.stderr)
        return 2
    prev = listen(args.listen) if args.rank > 0 else None
    nxt = connect(args.connect) if args.rank < args.stages - 1 else None
    stage = Stage(args.rank, args.stages, loop, cuts, prev, nxt)
    serve(stage, loop, sys.stdin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
