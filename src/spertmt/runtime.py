"""The process a run lives in: devices, precision, seeds and `torchrun` jobs, decided here once."""

from __future__ import annotations

import contextlib
import os
import random
import warnings

import numpy as np
import torch
import torch.distributed as dist

from .config import TRAINING_PRECISIONS

_FORK_HOOK = False


def one_thread_in_forked_children() -> None:
    """From now on, a process forked from this one (spaCy's `nlp.pipe(n_process=...)`, a
    multiprocessing Pool) runs torch on one thread: the OpenMP threads torch ran the model on in this
    process do not exist in a forked child, whose first parallel op waited for them forever
    (pytorch#17199, #41197). One thread each is what processes side by side want anyway. Called where
    a PyTorch model is loaded or trained."""
    global _FORK_HOOK
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
        os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))
        _FORK_HOOK = True


def autocast(device, precision: str):
    """The autocast context of a precision name: fp32 (none), bf16 or fp16, on any device."""
    if precision not in TRAINING_PRECISIONS:
        raise ValueError(f"precision must be one of {TRAINING_PRECISIONS}, not {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def cpu_bf16_units() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX). Without them
    bf16 autocast is emulated and slower than fp32: 5x slower on an AVX2 machine (bench/RESULTS.md)."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


def cpu_capability() -> str:
    """The vector extensions torch's CPU kernels use here ("AVX2", "AVX512", ...), plus bf16 units."""
    capability = torch.backends.cpu.get_cpu_capability()
    return capability + (" with bf16 units" if cpu_bf16_units() else " without bf16 units")


def warn_if_slow(device, precision: str) -> None:
    """bf16 on a CPU without bf16 units works, slowly: say so (once per process) rather than fall back
    silently, so that a benchmark or a user sees why."""
    if precision == "bf16" and torch.device(device).type == "cpu" and not cpu_bf16_units():
        warnings.warn(f"precision bf16 on this CPU ({cpu_capability()}) is emulated and slower than fp32 "
                      "(5x on an AVX2 machine, bench/RESULTS.md); use precision fp32 here", stacklevel=3)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str | torch.device) -> torch.device:
    """"auto": a GPU when torch sees one, else the CPU; "cpu", "cuda" or "cuda:N" when this torch
    build and machine have it (else a ValueError that says what there is)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device = {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ValueError(f"device = {name!r}, but this torch {torch.__version__} ({build}) sees no CUDA GPU; "
                             "use device = \"cpu\" or \"auto\"")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device = {name!r}, but there are {torch.cuda.device_count()} CUDA GPUs")
    elif device.type != "cpu":
        raise ValueError(f"device = {name!r}: spertmt runs on cpu or cuda")
    return device


class Distributed:
    """The process's place in a `torchrun` job (one process per GPU, or several on CPU with gloo);
    rank 0 alone logs, evaluates and writes checkpoints."""

    def __init__(self, device_name: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.local_rank = 0, 0
        self.device = resolve_device(device_name)
        if self.world > 1:
            self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        # find_unused_parameters: encoders carry parts we never use (BERT's pooler).
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[self.local_rank] if self.device.type == "cuda" else None, find_unused_parameters=True)

    def sum_over_processes(self, value: torch.Tensor) -> torch.Tensor:
        """`value` summed over every process of the job, in place (an all-reduce; itself when alone)."""
        if self.world > 1:
            dist.all_reduce(value)
        return value

    def from_main(self, flag: bool) -> bool:
        """The main process's `flag` on every process (a decision only the main one can make, such as
        stopping after its dev evaluation)."""
        if self.world == 1:
            return flag
        value = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()
