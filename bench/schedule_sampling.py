"""How long sampling a configured schedule over a 1,000,000-step plan takes.

The logger evaluates the real schedule object at every planned step when
training starts (budget: under 2 s for a million steps). Prints one line per
schedule: the median of `--repeats` calls of `sample_schedule(schedule, 0, N)`.

Usage: .venv/bin/python bench/schedule_sampling.py [--steps 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from tb_lr_plugin.writer import schedule_sampling

schedules = keras.optimizers.schedules


def cases(steps: int) -> dict[str, schedules.LearningRateSchedule]:
    return {
        "CosineDecay + warm-up": schedules.CosineDecay(
            0.0, steps - steps // 10, warmup_target=0.1, warmup_steps=steps // 10
        ),
        "CosineDecayRestarts": schedules.CosineDecayRestarts(0.1, steps // 100),
        "ExponentialDecay (staircase)": schedules.ExponentialDecay(0.1, 1000, 0.9, staircase=True),
        "PiecewiseConstantDecay": schedules.PiecewiseConstantDecay(
            [steps // 3, 2 * steps // 3], [0.1, 0.01, 0.001]
        ),
        "PolynomialDecay (cycle)": schedules.PolynomialDecay(0.1, steps // 10, cycle=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"| schedule | seconds for {args.steps:,} steps (median of {args.repeats}) |")
    print("|---|---|")
    for name, schedule in cases(args.steps).items():
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            schedule_sampling.sample_schedule(schedule, 0, args.steps)
            seconds.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
