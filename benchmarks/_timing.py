"""Side-by-side timing shared by the benchmark scripts.

Every method is timed in *rounds*: each round times every method once, in a fresh random order
(so that no method always follows the same neighbour, whose cache and allocator footprint it
would inherit), and rounds continue until each method has run ``min_rounds`` times and for
``min_seconds`` in total. Ratios are **paired**: the median over rounds of
``t_method[r] / t_reference[r]``, so a burst of load from elsewhere on the machine, which
slows both runs of a round, cancels out instead of spoiling one method's number.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable

import numpy as np

#: What :func:`rounds` reads: ``time.perf_counter`` (wall time, the default) or
#: ``time.thread_time`` (this thread's CPU time; ``--clock cpu``, meaningful with
#: ``--threads 1``, where torch computes on the calling thread): on a machine shared with other
#: jobs, CPU time leaves out the time slices the process waits for, which wall time adds to
#: whichever call they land on.
CLOCK = time.perf_counter

#: glibc allocator settings that keep freed memory in the process (see ``allocator()``).
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def rounds(
    fns: dict[str, Callable[[], object]],
    min_rounds: int = 5,
    min_seconds: float = 0.0,
    seed: int = 0,
    warm: bool = False,
) -> dict[str, np.ndarray]:
    """Per-round wall times (s) of every function, shape ``(n_rounds,)`` each.

    Rounds go on until there are ``min_rounds`` of them and the timed calls took
    ``min_seconds`` per function on average.

    ``warm=True`` runs each function once, untimed, right before its timed run: the steady
    state of a loop that calls the same method batch after batch, with its code and data in
    the caches. ``warm=False`` times the first call after other methods ran: a one-off call,
    paying for cold caches (more for methods with a larger code path).
    """
    for fn in fns.values():
        fn()  # warm-up: first-call costs (allocation, kernel selection) are not timed
    rng = random.Random(seed)
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    while True:
        order = names[:]
        rng.shuffle(order)
        for name in order:
            if warm:
                fns[name]()
            t0 = CLOCK()
            fns[name]()
            times[name].append(CLOCK() - t0)
        n = len(times[names[0]])
        if n >= min_rounds and sum(map(sum, times.values())) >= min_seconds * len(names):
            return {k: np.asarray(v) for k, v in times.items()}


def paired_ratio(times: dict[str, np.ndarray], name: str, ref: str) -> float:
    """Median over rounds of ``times[name] / times[ref]``."""
    return float(np.median(times[name] / times[ref]))


def best_of(times: dict[str, np.ndarray], prefix: str) -> str:
    """The key starting with ``prefix`` whose median time is smallest."""
    keys = [k for k in times if k.startswith(prefix)]
    return min(keys, key=lambda k: float(np.median(times[k])))


def allocator() -> str:
    """Which glibc allocator settings this process runs with, for the printed header.

    By default glibc serves large blocks with ``mmap`` and returns them to the system when
    they are freed, so every model call that allocates activations of a few hundred KiB or
    more pays page faults again; how often depends on the order and sizes of earlier
    allocations, which adds noise of up to 2x to millisecond-scale timings of *any* PyTorch
    code on CPU. ``TUNED_MALLOC`` keeps freed memory in the process (as jemalloc or tcmalloc
    would).
    """
    if all(os.environ.get(k) == v for k, v in TUNED_MALLOC.items()):
        return "glibc malloc, tuned (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ = 4 GiB)"
    return "glibc malloc, default settings"


def add_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """The options every timing script shares."""
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=repeats, help="rounds, at least")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one small config")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--min-seconds", type=float, default=0.5, help="timed seconds per method, on average"
    )
    parser.add_argument("--tuned-malloc", action="store_true", help="re-run with TUNED_MALLOC")
    parser.add_argument(
        "--cold", action="store_true", help="time one-off calls (default: warm, steady state)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this thread's CPU time (with --threads 1, on a loaded machine)",
    )


def apply(args: argparse.Namespace) -> None:
    """Act on the shared options: re-run with the tuned allocator, set torch's threads."""
    if args.tuned_malloc and allocator().endswith("default settings"):
        # glibc reads these only at start-up: run this script again with them set
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **TUNED_MALLOC})
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.thread_time if getattr(args, "clock", "wall") == "cpu" else time.perf_counter
