"""Instruction counts of `model.fit` with and without the logger, under callgrind.

Why: on a shared 2-core virtual machine, whose hypervisor takes a varying share
of the CPU time, a bare `fit` varies by tens of percent in wall time from one run
to the next, far more than the 3% budget `overhead.py` checks. Instructions
executed do not depend on what else the machine runs, so they show what the
logger adds, in a figure that repeats to within 0.2% (about 1.6% with `record`
layers, whose runs wait more or less).

What is counted: the same span as `overhead.py` (callback construction plus one
`model.fit`, same model, data, schedule and variants), after one untimed warm-up
fit in the same process, under `valgrind --tool=callgrind` with instrumentation
switched on only for that span (`callgrind_control -i on/off`, while the process
waits for it). The logger's time-based flush is switched off, since at
callgrind's speed it would fire far more often than natively; its 4,096-step
and epoch-end flushes remain. The backend's thread pools get one thread each
(TensorFlow's inter- and intra-op pools; XLA's Eigen pool on JAX; PyTorch's
intra- and inter-op threads), and the cost of Eigen's idle spinning (threads
polling for work: `GlobalSteal`, `PopBack`, `MaybeGetTask`, ...) is subtracted,
because it measures waiting, not work, and is the main source of run-to-run
variation. The ratio of a variant is its count over `bare`'s at the same step
count and `steps_per_execution`.

Backends: the children run on whichever backend `KERAS_BACKEND` names
(tensorflow when unset), as `overhead.py` does, with the same restrictions: its
TensorFlow-only variants need the TensorFlow backend, and Keras's PyTorch
backend runs one step per execution (`--steps-per-execution 1`).

The warm-up fit is 200 steps long; with `--warmup-like-run` it is as long as
the counted fit, so caches keyed by shape (JAX compiles each eager op once per
shape) are warm, as in a second `fit` of the same length in one process.
`--keep DIR` keeps callgrind's output files, for `callgrind_annotate`. `--jit-compile true`
compiles the model with XLA; `--per-thread` also reports the work of the thread running
`fit`; `--steady FIRST,LAST` counts only those batches of the fit: a warm step, exactly;
`--fair-sched` makes valgrind's threads take turns, so counts repeat from run to run.

Each count covers fixed costs (tracing, writer creation, schedule sampling, the
final flush) and per-step costs. With several step counts (`--steps 500,2000,4000`)
the script also fits `count = fixed + steps * per_step` per variant (least
squares) and projects the ratio at the reference workload's 10,000 steps.

A run takes minutes (callgrind runs code about 50 times slower); `--jobs 2` runs
two at once. Needs valgrind (Debian's `valgrind` package).

Usage (from the repository root):

    .venv/bin/python bench/instruction_counts.py --steps-per-execution 16 --steps 500,2000,4000
    .venv/bin/python bench/instruction_counts.py --steps-per-execution 1 --steps 500,1500 \\
        --variants lr_logger,lr_logger_record4 --json bench/results-instructions-spe1.json
    KERAS_BACKEND=jax .venv-jax/bin/python bench/instruction_counts.py \\
        --steps-per-execution 16 --steps 500,2000 --json bench/results-jax-instructions-spe16.json
    KERAS_BACKEND=torch .venv-torch/bin/python bench/instruction_counts.py \\
        --steps-per-execution 1 --steps 500,1500 --json bench/results-torch-instructions-spe1.json

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REFERENCE_STEPS = 10_000
# The backend of the counted children, as Keras reads it (tensorflow when unset).
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
# overhead.py's variants that need TensorFlow (checked here without importing Keras).
TENSORFLOW_ONLY_VARIANTS = ("keras_tensorboard", "per_batch_summary")
# Self cost of these functions is Eigen's thread pool polling for work while idle.
IDLE_SPIN = re.compile(
    r"Eigen::(ThreadPoolTempl|RunQueue|EventCount)<?.*::"
    r"(GlobalSteal|LocalSteal|Steal|PopBack|PopFront|MaybeGetTask|WaitForWork|NonEmptyQueueIndex|Empty)"
    r"|EigenEnvironment::Task::operator="
)
# One row of `callgrind_annotate --inclusive=no`: "1,234 (12.3%)  file:function [object]".
ANNOTATE_ROW = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$")


def single_threaded(backend: str) -> None:
    """Gives the backend's thread pools one thread each (before its first computation)."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    elif backend == "jax":
        # Read once, when JAX creates its CPU client: before the first computation.
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    elif backend == "torch":
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)


def counted_batches(first: int, last: int) -> Any:
    """A callback counting only batches `first` to `last - 1` of the fit (the steady state)."""
    import keras

    class Counted(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch in (first, last):
                toggle = "on" if batch == first else "off"
                command = ["callgrind_control", "-i", toggle, str(os.getpid())]
                subprocess.run(command, check=True, capture_output=True)

    return Counted()


def run_child(
    variant: str,
    steps: int,
    steps_per_execution: int,
    hidden_layers: int,
    jit_compile: str,
    warmup_steps: int | None = None,
    steady: list[int] | None = None,
) -> None:
    """Inside valgrind: warm up (`overhead.WARMUP_STEPS` steps by default), then count a fit.

    With `steady = [first, last]`, only batches `first` to `last - 1` of it are counted.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(BENCH_DIR))
    single_threaded(BACKEND)
    import overhead  # The workload and variants, shared so both measure the same thing.

    overhead.HIDDEN_LAYERS = hidden_layers
    overhead.JIT_COMPILE = overhead.parse_jit_compile(jit_compile)

    # Code runs about 50 times slower here: a 10-s flush would fire every few
    # hundred steps, where a native reference fit (6-8 s) never reaches it.
    # The 4,096-step and epoch-end flushes still happen, as natively.
    overhead.LOGGER_FLUSH_SECS = 1e9
    data = overhead.make_data(steps)
    weights = overhead.build_model(None, steps_per_execution, steps).get_weights()
    with tempfile.TemporaryDirectory(prefix="tblr-callgrind-") as root:
        warmup = overhead.make_data(warmup_steps or overhead.WARMUP_STEPS)
        overhead.timed_fit(variant, f"{root}/warmup", weights, warmup, 1, steps_per_execution)
        if steady:
            counter = counted_batches(*steady)
            overhead.timed_fit(
                variant, f"{root}/run", weights, data, 1, steps_per_execution,
                extra_callbacks=[counter],
            )  # fmt: skip
            return
        # callgrind_control interrupts this process while it waits in `run`:
        # counting starts and stops at the same place in every run.
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        overhead.timed_fit(variant, f"{root}/run", weights, data, 1, steps_per_execution)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)


def count_instructions(variant: str, steps: int, args: argparse.Namespace) -> dict[str, int]:
    """Runs one child under callgrind; returns total, idle-spin and work instruction counts.

    With `args.warmup_like_run`, the warm-up fit has the counted fit's length; with
    `args.keep`, the callgrind output is copied there for `callgrind_annotate`; with
    `args.per_thread`, each thread is counted apart and `main_thread` is the work of the
    thread that runs `fit`.
    """
    spe = args.steps_per_execution
    with tempfile.TemporaryDirectory(prefix="tblr-callgrind-out-") as out_dir:
        out_file = os.path.join(out_dir, "callgrind.out")
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            *(["--fair-sched=yes"] if args.fair_sched else []),
            *(["--separate-threads=yes"] if args.per_thread else []),
            f"--callgrind-out-file={out_file}",
            sys.executable,
            __file__,
            "--child",
            json.dumps(
                {
                    "variant": variant,
                    "steps": steps,
                    "steps_per_execution": spe,
                    "hidden_layers": args.hidden_layers,
                    "jit_compile": args.jit_compile,
                    "warmup_steps": steps if args.warmup_like_run else None,
                    "steady": args.steady,
                }
            ),
        ]
        # A fixed hash seed: Python's dict and set layouts change instruction counts.
        env = {**os.environ, "PYTHONHASHSEED": "0", "KERAS_BACKEND": BACKEND}
        subprocess.run(command, check=True, env=env, capture_output=True)
        # One file per thread (`callgrind.out-01` is the main thread), or one for all.
        outputs = sorted(
            Path(out_dir).glob("callgrind.out-*" if args.per_thread else "callgrind.out")
        )
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            name = f"callgrind-{BACKEND}-spe{spe}-{variant}-{steps}.out"
            for output in outputs:
                shutil.copy(output, Path(args.keep) / (name + output.name[len("callgrind.out") :]))
        counts = [annotated_counts(output) for output in outputs]
    total = sum(total for total, _ in counts)
    spin = sum(spin for _, spin in counts)
    result = {"total": total, "idle_spin": spin, "work": total - spin}
    if args.per_thread:
        main_total, main_spin = counts[0]
        result["main_thread"] = main_total - main_spin
    return result


def annotated_counts(output: Path) -> tuple[int, int]:
    """`(total, idle spin)` instructions of one callgrind output file."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(output)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    total = spin = 0
    for line in annotated.splitlines():
        match = ANNOTATE_ROW.match(line)
        if not match:
            continue
        cost = int(match.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in match.group(2):
            total = cost
        elif IDLE_SPIN.search(match.group(2)):
            spin += cost
    return total, spin


def fit_line(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares `(fixed, per_step)` through `(steps, count)` points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - slope * mean_x, slope


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Counts every (variant, steps) pair and derives ratios against `bare`."""
    variants = ["bare", *[name for name in args.variants if name != "bare"]]
    jobs = [(name, steps) for steps in args.steps for name in variants]
    counts: dict[str, dict[int, dict[str, int]]] = {name: {} for name in variants}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            pool.submit(count_instructions, name, steps, args): (name, steps)
            for name, steps in jobs
        }
        for future in concurrent.futures.as_completed(futures):
            name, steps = futures[future]
            counts[name][steps] = future.result()
            print(f"{name:<18} {steps:>6} steps: {counts[name][steps]}", flush=True)
    ratios = {
        name: {
            steps: counts[name][steps]["work"] / counts["bare"][steps]["work"]
            for steps in args.steps
        }
        for name in variants
    }
    steady = {}
    if args.steady:
        # Counts of the same batches of every variant: per step, exactly.
        first, last = args.steady
        steady = {
            name: {
                steps: {
                    part: count / (last - first)
                    for part, count in counts[name][steps].items()
                    if part in ("work", "main_thread")
                }
                for steps in args.steps
            }
            for name in variants
        }
    projected = {}
    if len(args.steps) > 1 and not args.steady:
        lines = {
            name: fit_line([(steps, counts[name][steps]["work"]) for steps in args.steps])
            for name in variants
        }
        bare_fixed, bare_per_step = lines["bare"]
        for name, (fixed, per_step) in lines.items():
            projected[name] = {
                "fixed": fixed,
                "per_step": per_step,
                "added_fixed": fixed - bare_fixed,
                "added_per_step": per_step - bare_per_step,
                "ratio_at_reference": (fixed + REFERENCE_STEPS * per_step)
                / (bare_fixed + REFERENCE_STEPS * bare_per_step),
            }
    return {
        "config": {
            "backend": BACKEND,
            "steps_per_execution": args.steps_per_execution,
            "jit_compile": args.jit_compile,
            "per_thread": args.per_thread,
            "fair_sched": args.fair_sched,
            "steady": args.steady,
            "steps": args.steps,
            "warmup_like_run": args.warmup_like_run,
        },
        "counts": counts,
        "ratios": ratios,
        "projected": projected,
        "steady_per_step": steady,
    }


def format_table(results: dict[str, Any]) -> str:
    """Markdown: work instructions and ratios per step count, then the projection."""
    spe = results["config"]["steps_per_execution"]
    steps_list = results["config"]["steps"]
    head = " | ".join(f"{steps} steps: Ginstr (ratio)" for steps in steps_list)
    lines = [f"| variant | spe | {head} |", "|---|---|" + "---|" * len(steps_list)]
    for name, by_steps in results["counts"].items():
        cells = " | ".join(
            f"{by_steps[steps]['work'] / 1e9:.3f} ({results['ratios'][name][steps]:.4f})"
            for steps in steps_list
        )
        lines.append(f"| {name} | {spe} | {cells} |")
    if results["steady_per_step"]:
        first, last = results["config"]["steady"]
        lines += [
            "",
            f"Per step over batches {first} to {last - 1} (instructions; ratio to bare):",
            "",
            "| variant | steps | work | thread running fit |",
            "|---|---|---|---|",
        ]
        bare = results["steady_per_step"]["bare"]
        for name, by_steps in results["steady_per_step"].items():
            for steps, parts in by_steps.items():
                cells = [
                    f"{parts[part]:,.0f} ({parts[part] / bare[steps][part]:.4f})"
                    if part in parts
                    else ""
                    for part in ("work", "main_thread")
                ]
                lines.append(f"| {name} | {steps} | {' | '.join(cells)} |")
    if results["projected"]:
        lines += [
            "",
            f"| variant | spe | added fixed (Minstr) | added per step (instr) "
            f"| projected ratio at {REFERENCE_STEPS} steps |",
            "|---|---|---|---|---|",
        ]
        for name, row in results["projected"].items():
            if name != "bare":
                lines.append(
                    f"| {name} | {spe} | {row['added_fixed'] / 1e6:.1f} "
                    f"| {row['added_per_step']:.0f} | {row['ratio_at_reference']:.4f} |"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-per-execution", type=int, default=16)
    parser.add_argument(
        "--steps",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[500, 2000],
        help="comma-separated step counts of the counted fit (one epoch each)",
    )
    parser.add_argument(
        "--variants",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=["lr_logger", "lr_logger_record4"],
        help="variants of overhead.py (bare is always added)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
    parser.add_argument(
        "--hidden-layers",
        type=int,
        default=1,
        help="hidden Dense(64) layers of the MLP (the reference workload: 1)",
    )
    parser.add_argument(
        "--jit-compile",
        choices=["auto", "true", "false"],
        default="auto",
        help="the model's jit_compile (the reference workload: auto, which is no XLA on a "
        "CPU-only TensorFlow)",
    )
    parser.add_argument(
        "--warmup-like-run",
        action="store_true",
        help="warm up with a fit as long as the counted one (default: 200 steps), so caches "
        "keyed by shape (JAX's compiled eager ops) are warm, as in a second fit",
    )
    parser.add_argument(
        "--per-thread",
        action="store_true",
        help="count each thread apart and also report the work of the thread running fit "
        "(on JAX, with JAX_CPU_ENABLE_ASYNC_DISPATCH=false, the one running every step)",
    )
    parser.add_argument(
        "--steady",
        type=lambda text: [int(part) for part in text.split(",")],
        metavar="FIRST,LAST",
        help="count only batches FIRST to LAST - 1 of the fit (compiled, warm): the cost of a "
        "step exactly, with no fixed cost in it; multiples of --steps-per-execution",
    )
    parser.add_argument(
        "--fair-sched",
        action="store_true",
        help="valgrind's --fair-sched=yes: threads take turns, so the work Keras' asynchronous "
        "callback dispatch does per batch (polling its pending futures) is the same in every "
        "run; without it a bare JAX step's count varied by 10%% between runs",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep callgrind's output files in DIR")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.steady:
        spe = args.steps_per_execution
        if (
            len(args.steady) != 2
            or not 0 < args.steady[0] < args.steady[1] < min(args.steps)
            or any(batch % spe for batch in args.steady)
        ):
            parser.error(
                "--steady FIRST,LAST: 0 < FIRST < LAST < the shortest --steps, both "
                f"multiples of --steps-per-execution ({spe})"
            )
    if BACKEND != "tensorflow":
        for name in set(args.variants) & set(TENSORFLOW_ONLY_VARIANTS):
            parser.error(f"{name} needs TensorFlow: run it with KERAS_BACKEND=tensorflow")
        if BACKEND == "torch" and args.steps_per_execution != 1:
            parser.error(
                "Keras's PyTorch backend runs one step per execution: "
                "--steps-per-execution must be 1 with KERAS_BACKEND=torch"
            )
    return args


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        run_child(**json.loads(sys.argv[2]))
        return
    args = parse_args()
    print(
        f"backend {BACKEND}, spe {args.steps_per_execution}, steps {args.steps}, "
        f"hidden layers {args.hidden_layers}, jit_compile {args.jit_compile}",
        flush=True,
    )
    results = run_benchmark(args)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
