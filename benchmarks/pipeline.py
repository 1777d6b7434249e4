"""A real, micro-batched pipeline: one process per stage, consecutive stages joined over TCP,
each cut sending ``Payload.to_bytes()`` forward and the gradient's payload backward.

Every stage builds the same run (``trainables.<family>.loop``: same seed, same initial weights,
same batches) and computes only its own layers, the ones between its input cut and its output
cut:

- the layers before its input cut run once, on the first micro-batch, to learn which modules
  finish before the cut; from then on those modules return that output without computing
  (the cut replaces it with the decoded activation it received);
- at its output cut it encodes the activation (stateful methods: with the micro-batch's
  example ids), queues it for sending and stops its forward; the backward of that micro-batch
  waits for the gradient's payload;
- its optimizer steps the parameters that got gradients (its own layers), once per step, after
  the gradients of all M micro-batches have accumulated (the loss of each is divided by M).

A step splits the batch into M micro-batches and runs them in a schedule
(``reports.schedule.schedule``, the order the cost model plays too): ``gpipe`` (all forwards,
then all backwards) or ``1f1b`` (stage r runs S - r - 1 forwards, then alternates one forward
and one backward, then the remaining backwards). Each socket has a sending thread and a
receiving thread, so a stage computes while its bytes travel; a link's one-way delay, where the
kernel has no netem, is added by the sending thread (each message leaves ``delay`` seconds after
it was queued, later ones are not held behind it).

Stage 0 runs the steps and times each one (its first forward to its optimizer step). A phase of
N steps is asked for on stage 0's stdin (``run N [delay]``) and answered on its stdout with a
JSON line; every stage reports, per phase, the bytes of its output cut and its busy seconds
(forward, backward and optimizer apart, encode and decode inside them: not the waits) and,
the last, its losses, as JSON lines when ``quit`` ends the run.

    python -m benchmarks.pipeline --rank R --stages S --listen HOST:PORT --connect HOST:PORT \
        --config JSON [--schedule gpipe|1f1b] [--microbatches M] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import struct
import sys
import threading
import time

import torch

from compression.features import feature_dim
from reports.schedule import SCHEDULES, schedule

TENSOR, PHASE, QUIT, DELAY = 0, 1, 2, 3
_HEAD = struct.Struct("<BQ")


def send(sock: socket.socket, kind: int, data: bytes = b"") -> None:
    sock.sendall(_HEAD.pack(kind, len(data)))
    if data:
        sock.sendall(data)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:  # MSG_WAITALL: one call until all n bytes are in (GIL released), not a Python wake-up a segment
        k = sock.recv_into(view[got:], n - got, socket.MSG_WAITALL)
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


class Link:
    """One socket to a neighbouring stage: a thread that sends what is queued (each message
    ``delay`` seconds after it was queued) and a thread that queues what arrives."""

    def __init__(self, sock: socket.socket):
        self.sock, self.delay = sock, 0.0
        self.outbox: queue.Queue = queue.Queue()
        self.inbox: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        threading.Thread(target=self._sender, daemon=True).start()
        threading.Thread(target=self._receiver, daemon=True).start()

    def put(self, kind: int, data: bytes = b"") -> None:
        self.outbox.put((time.perf_counter() + self.delay, kind, data))

    def get(self) -> tuple[int, bytes]:
        item = self.inbox.get()
        if isinstance(item, BaseException):
            raise ConnectionError(f"the link to the neighbouring stage failed: {item}")
        return item

    def flush(self) -> None:
        """Wait until everything queued has been handed to the kernel."""
        self.outbox.join()

    def _sender(self) -> None:
        while True:
            due, kind, data = self.outbox.get()
            try:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                send(self.sock, kind, data)
            except OSError as e:
                self.error = e
            finally:
                self.outbox.task_done()

    def _receiver(self) -> None:
        try:
            while True:
                self.inbox.put(recv(self.sock))
        except (OSError, ConnectionError) as e:
            self.inbox.put(e)


def split(x, m: int) -> list:
    """A batch (a tensor or a dict of tensors, batch first) in m micro-batches."""
    if isinstance(x, dict):
        parts = {k: split(v, m) for k, v in x.items()}
        return [{k: parts[k][i] for k in x} for i in range(m)]
    n = x.shape[0]
    if n % m:
        raise ValueError(f"--microbatches {m}: the batch of {n} does not split evenly")
    return list(torch.chunk(x, m))


class StopStage(Exception):  # noqa: N818 - control flow: this stage's part of the forward is done
    pass


class Prefix:
    """The modules that finish before a stage's input cut, learnt on the first forward and then
    answered without computing (their values never reach this stage: the cut replaces them).
    An answer is the first forward's output, except that a tensor of the cut activation's shape
    then takes the shape of the activation now arriving (zeros, no memory): code between the
    modules that reads a shape (a BERT attention mask sized from the embeddings) sees this
    batch's."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.done, self.after, self.cut = model, [], set(), False
        self.handle = torch.nn.modules.module.register_module_forward_hook(self._seen)
        self.learnt = False
        self.cut_shape: tuple | None = None
        self.current: tuple | None = None  # the shape of the activation this forward receives

    def _seen(self, module, inputs, output):
        if self.cut:
            self.after.add(id(module))
        else:
            self.done.append((module, output))

    def at_cut(self, x: torch.Tensor) -> None:
        self.cut, self.cut_shape = True, tuple(x.shape)

    def install(self) -> None:
        """After the first forward: stub the outermost modules that finished before the cut
        and are not called again after it."""
        self.handle.remove()
        finished = {id(m) for m, _ in self.done}
        parent = {}
        for mod in self.model.modules():
            for child in mod.children():
                parent[id(child)] = mod
        for mod, output in self.done:
            up, outermost = parent.get(id(mod)), True
            while up is not None:
                if id(up) in finished:
                    outermost = False
                    break
                up = parent.get(id(up))
            if outermost and id(mod) not in self.after:
                mod.forward = self._constant(_detached(output))
        self.done, self.learnt = [], True

    def _constant(self, value):
        def forward(*args, **kwargs):
            return self._shaped(value)

        return forward

    def _shaped(self, x):
        if isinstance(x, torch.Tensor):
            if tuple(x.shape) == self.cut_shape and self.current is not None and self.current != self.cut_shape:
                return torch.zeros((), dtype=x.dtype, device=x.device).expand(self.current)
            return x
        if isinstance(x, tuple):
            parts = [self._shaped(v) for v in x]
            return type(x)(*parts) if hasattr(x, "_fields") else tuple(parts)
        return x


def _detached(x):
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, tuple):
        return type(x)(*(_detached(v) for v in x)) if hasattr(x, "_fields") else tuple(_detached(v) for v in x)
    return x


class Stage:
    """One stage's cut hooks and its micro-batched step (see the module docstring)."""

    def __init__(self, rank: int, stages: int, loop, cuts, prev: Link | None, nxt: Link | None, m: int = 1,
                 kind: str = "gpipe"):  # fmt: skip
        self.rank, self.stages, self.last, self.loop = rank, stages, rank == stages - 1, loop
        self.prev, self.next, self.m, self.kind = prev, nxt, m, kind
        self.order = schedule(kind, rank, stages, m)
        self.sent_fwd, self.sent_bwd = 0, 0  # bytes: output cut's acts, input's grads
        self.busy = {"F": 0.0, "B": 0.0, "opt": 0.0}  # seconds of forward, backward, optimizer work
        self.ids = None
        self.mb: dict[int, dict] = {}  # micro-batch -> out_act, in_act, loss, kept positions
        self.cur: dict = {}
        self.prefix = Prefix(loop.model) if rank > 0 else None
        for b in loop.boundaries:  # the compressors (and a bottleneck's maps) act here, over the wire:
            b.enabled = False  # the in-process Boundary is out of the forward
            b.handle.remove()
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

        b = self.loop.boundaries[j]
        if role == "out":
            if b.learned:  # a learned bottleneck: its down map runs here, the R-dim code crosses
                x = b.down(x)
            payload = b.fwd.encode_ids(x, self.ids) if b.stateful else b.fwd.encode(x)
            data = payload.to_bytes()
            self.sent_fwd += len(data)
            self.next.put(TENSOR, data)
            if b.bwd.pairs_with:  # a backward that sends values at the forward's kept positions only
                self.cur["kept_out"] = kept_positions(b.fwd, payload)
            self.cur["out_act"] = x
            raise StopStage
        if self.prefix is not None and not self.prefix.learnt:
            self.prefix.at_cut(x)
        payload = self.cur.pop("payload")
        x_hat = b.fwd.decode_ids(payload, x.device) if b.stateful else b.fwd.decode(payload, x.device)
        if b.bwd.pairs_with:
            self.cur["kept_in"] = kept_positions(b.fwd, payload)
        torch.set_grad_enabled(True)  # this stage's own layers start here
        # in the activation's own memory layout (channels_last after a permuted input): the same
        # kernels, so the same arithmetic, as the one-process run
        layout = torch.channels_last if _channels_last(x) else torch.contiguous_format
        shape = tuple(payload.shape)
        new = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=layout)
        self.cur["in_act"] = new.copy_(x_hat.view(shape)).requires_grad_()
        return b.up(self.cur["in_act"]) if b.learned else self.cur["in_act"]  # the up map runs here

    def _arriving(self, shape: tuple) -> tuple:
        """The shape of the activation at this stage's input cut, from what crossed: a learned
        code's R features stand for the up map's full width."""
        b = self.loop.boundaries[self.rank - 1]
        if not b.learned:
            return shape
        f = feature_dim(len(shape))
        return (*shape[:f], b.up.weight.shape[1], *shape[f + 1 :])

    def _send_grad(self, mb: dict) -> None:
        from compression import Payload

        b = self.loop.boundaries[self.rank - 1]
        g = mb["in_act"].grad
        if b.bwd.pairs_with:
            payload = Payload(tuple(g.shape), g.dtype, [g.reshape(-1)[mb["kept_in"]].contiguous().cpu()])
        else:
            payload = b.bwd.encode(g)
        data = payload.to_bytes()
        self.sent_bwd += len(data)
        self.prev.put(TENSOR, data)

    def _recv_grad(self, mb: dict, data: bytes) -> torch.Tensor:
        from compression import Payload

        b = self.loop.boundaries[self.rank]
        payload = Payload.from_bytes(data)
        x = mb["out_act"]
        if b.bwd.pairs_with:
            g = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
            g[mb["kept_out"]] = payload.arrays[0].to(x.device, x.dtype)
            return torch.empty_like(x).copy_(g.view(x.shape))
        return torch.empty_like(x).copy_(b.bwd.decode(payload, x.device).view(x.shape))

    def _forward(self, i: int, inputs, labels, ids, first: bytes | None) -> None:
        if self.rank > 0:
            kind, data = (TENSOR, first) if first is not None else self.prev.get()
            assert kind == TENSOR, f"stage {self.rank}: expected micro-batch {i}'s activation, got message {kind}"
        t0 = time.perf_counter()
        self.cur = {}
        if self.rank > 0:
            from compression import Payload

            self.cur["payload"] = Payload.from_bytes(data)
            self.prefix.current = self._arriving(tuple(self.cur["payload"].shape))
        self.ids = ids[i]
        torch.set_grad_enabled(self.rank == 0)  # later stages: autograd from their input cut on
        try:
            loss = self.loop.loss_fn(inputs[i], labels[i])
            self.cur["loss"] = loss / self.m
        except StopStage:
            pass
        finally:
            torch.set_grad_enabled(True)
        if self.prefix is not None and not self.prefix.learnt:
            self.prefix.install()
        self.mb[i], self.cur = self.cur, {}
        self.busy["F"] += time.perf_counter() - t0

    def _backward(self, i: int) -> None:
        mb = self.mb.pop(i)
        if not self.last:
            kind, data = self.next.get()
            assert kind == TENSOR, f"stage {self.rank}: expected micro-batch {i}'s gradient, got message {kind}"
        t0 = time.perf_counter()
        if self.last:
            mb["loss"].backward()
            self.losses_mb.append(float(mb["loss"].detach()))
        else:
            mb["out_act"].backward(self._recv_grad(mb, data))
        if self.rank > 0:
            self._send_grad(mb)
        self.busy["B"] += time.perf_counter() - t0

    def step(self, inputs, labels, ids, first: bytes | None = None) -> float | None:
        """One training step of this stage over M micro-batches; the loss on the last stage."""
        lp = self.loop
        inputs, labels, ids = split(inputs, self.m), split(labels, self.m), split(ids, self.m)
        lp.optimizer.zero_grad(set_to_none=True)
        self.losses_mb = []
        for what, i in self.order:
            if what == "F":
                self._forward(i, inputs, labels, ids, first if i == 0 else None)
            else:
                self._backward(i)
        t0 = time.perf_counter()
        lp.optimizer.step()
        lp.scheduler.step()
        self.busy["opt"] += time.perf_counter() - t0
        return sum(self.losses_mb) if self.last else None


def _channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def kept_positions(comp, payload) -> torch.Tensor:
    """Where a sparsifying forward kept values: its own decoder run on ones for the values."""
    from compression import Payload

    ones = Payload(payload.shape, torch.float32, [torch.ones_like(payload.arrays[0]), *payload.arrays[1:]])
    return comp.decode(ones).reshape(-1).nonzero().view(-1)


def batches_forever(loop):
    while True:
        yield from loop.batches()


def _phase_record(stage: Stage, steps: int) -> dict:
    rec = {"bytes": stage.sent_fwd + stage.sent_bwd, "sent_fwd": stage.sent_fwd, "sent_bwd": stage.sent_bwd,
           "busy_s": sum(stage.busy.values()), "busy_fwd_s": stage.busy["F"], "busy_bwd_s": stage.busy["B"],
           "busy_opt_s": stage.busy["opt"], "steps": steps}  # fmt: skip
    stage.sent_fwd, stage.sent_bwd, stage.busy = 0, 0, dict.fromkeys(stage.busy, 0.0)
    return rec


def serve(stage: Stage, loop, control) -> None:
    """Stage 0: phases as asked on ``control`` (run N [delay] / quit), a JSON line of step times,
    bytes and busy seconds each; the others follow the messages and print their bytes and busy
    seconds per phase and losses."""
    phases, losses = [], []  # the later stages' record
    data = batches_forever(loop)
    links = [lk for lk in (stage.prev, stage.next) if lk is not None]
    if stage.rank == 0:
        for line in control:
            if line.strip() == "quit":
                if stage.next is not None:
                    stage.next.put(QUIT)
                    stage.next.flush()
                break
            words = line.split()
            n, times = int(words[1]), []
            delay = float(words[2]) if len(words) > 2 else 0.0
            if stage.next is not None:
                stage.next.delay = delay
                stage.next.put(DELAY, struct.pack("<d", delay))
            _phase_record(stage, 0)
            for _ in range(n):
                inputs, labels, ids = next(data)
                t0 = time.perf_counter()
                stage.step(inputs, labels, ids)
                times.append(time.perf_counter() - t0)
            if stage.next is not None:
                stage.next.put(PHASE)
            print(json.dumps({"rank": 0, "step_s": times, **_phase_record(stage, n)}), flush=True)
        return
    steps = 0
    while True:
        kind, payload = stage.prev.get()
        if kind == DELAY:
            for lk in links:
                lk.delay = struct.unpack("<d", payload)[0]
            if stage.next is not None:
                stage.next.put(DELAY, payload)
            continue
        if kind == QUIT or kind == PHASE:
            phases.append(_phase_record(stage, steps))
            steps = 0
            if stage.next is not None:
                stage.next.put(kind)
            if kind == QUIT:
                for lk in links:
                    lk.flush()
                print(json.dumps({"rank": stage.rank, "phases": phases, "losses": losses}), flush=True)
                return
            continue
        inputs, labels, ids = next(data)
        losses.append(stage.step(inputs, labels, ids, first=payload))
        steps += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--stages", type=int, required=True)
    p.add_argument("--listen", help="this stage's address (every stage but the first)")
    p.add_argument("--connect", help="the next stage's address (every stage but the last)")
    p.add_argument("--config", required=True, help="the run's config as JSON (the same on every stage)")
    p.add_argument("--schedule", choices=SCHEDULES, default="gpipe")
    p.add_argument("--microbatches", type=int, default=1, help="micro-batches per step (divides the batch)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for this stage (0: torch's default)")
    args = p.parse_args(argv)
    import trainables
    from trainables import placement

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    config = json.loads(args.config)
    fam = trainables.family(config["task"])
    loop = fam.loop(config)
    cuts = placement.resolve(loop.model, fam.resolve(config)["placement"])
    if len(cuts) != args.stages - 1:
        print(f"pipeline: {len(cuts)} cuts need {len(cuts) + 1} stages, not {args.stages}", file=sys.stderr)
        return 2
    prev = Link(listen(args.listen)) if args.rank > 0 else None
    nxt = Link(connect(args.connect)) if args.rank < args.stages - 1 else None
    stage = Stage(args.rank, args.stages, loop, cuts, prev, nxt, args.microbatches, args.schedule)
    serve(stage, loop, sys.stdin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
