"""Where and in what precision a trial runs: its device (``auto``: the GPU Ray gave the trial
when there is one, else the CPU), autocast (bf16 on CPU or GPU, fp16 on GPU with a gradient
scaler), determinism, the synchronize that brackets a timed step on a GPU, and peak memory."""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass, field

import torch

import schema

from .common import ConfigError
from .names import DEVICES
from .names import PRECISIONS as PRECISION_NAMES

PRECISIONS = dict(zip(PRECISION_NAMES, (None, torch.bfloat16, torch.float16), strict=True))


def check_names(device: str | None, precision: str | None) -> None:
    """Device and precision are names from their lists (whether a GPU is there is apart)."""
    for key, value, allowed in (("device", device, DEVICES), ("precision", precision, tuple(PRECISIONS))):
        if value is not None and value not in allowed:
            raise ConfigError(f"{key}={value!r}: must be one of {', '.join(allowed)}")


def resolve_device(name: str | None) -> torch.device:
    """auto: cuda when a GPU is visible (Ray sets CUDA_VISIBLE_DEVICES to the trial's own, so
    cuda:0 of the trial is the GPU Ray assigned, never the host's first), else cpu."""
    name = name or "auto"
    check_names(name, None)
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda': no GPU is visible here (torch.cuda.is_available() is False); use cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def check_precision(precision: str | None, device: torch.device) -> str:
    precision = precision or "fp32"
    check_names(None, precision)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision='fp16': fp16 autocast needs a GPU (with its gradient scaler); use bf16 on CPU")
    return precision


def set_deterministic(on: bool, device: torch.device) -> None:
    """Bit-identical reruns on the same GPU: deterministic kernels (slower: no cuDNN autotuning,
    cuBLAS with a fixed workspace); off: cuDNN autotunes for fixed shapes."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=False)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = on
        torch.backends.cudnn.benchmark = not on


@dataclass
class Runtime:
    device: torch.device
    precision: str = "fp32"
    scaler: torch.amp.GradScaler | None = None
    rss0_kb: int = field(default=0)

    def autocast(self):
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def sync(self) -> None:
        """A step (or a compressor call) is timed between two of these on a GPU: its kernels,
        not their launch."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def to(self, *tensors):
        return tuple(t.to(self.device, non_blocking=True) for t in tensors)

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_mem_mb(self) -> float:
        """GPU: peak memory allocated by tensors this epoch. CPU: the process's peak resident set
        above what it held when the trial started."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rss0_kb) / 1024

    def facts(self) -> dict:
        """Where the run ran: the same seed gives the same run only on the same kind of machine."""
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else _cpu_name()
        return {
            schema.TAG_DEVICE: self.device.type,
            schema.TAG_DEVICE_NAME: name,
            schema.TAG_HOST: host_hash(),
            schema.TAG_CPU_CAPABILITY: torch.backends.cpu.get_cpu_capability(),
            schema.TAG_TORCH: torch.__version__,
        }


def host_hash() -> str:
    """This machine as the runs record it (schema.TAG_HOST): a short hash of its host name."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"


def runtime(cfg: dict) -> Runtime:
    """The trial's device, precision (with fp16's gradient scaler) and determinism, set up."""
    device = resolve_device(cfg.get("device"))
    precision = check_precision(cfg.get("precision"), device)
    set_deterministic(bool(cfg.get("deterministic")), device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return Runtime(device, precision, scaler, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
