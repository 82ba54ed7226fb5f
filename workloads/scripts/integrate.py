"""Integrates a function over one slice of an interval and writes the partial result as JSON.

The sweep runs one task per (function, slice); adding the slices' values gives the whole integral,
e.g. 4/(1+x^2) over [0, 1] sums to pi.
"""

import argparse
import json
import math
from collections.abc import Callable

FUNCTIONS: dict[str, tuple[Callable[[float], float], float, float]] = {
    "pi": (lambda x: 4.0 / (1.0 + x * x), 0.0, 1.0),
    "gauss": (lambda x: math.exp(-x * x), -6.0, 6.0),
    "sine": (math.sin, 0.0, math.pi),
}


def simpson(f: Callable[[float], float], a: float, b: float, steps: int) -> float:
    steps += steps % 2
    h = (b - a) / steps
    total = f(a) + f(b)
    total += 4 * sum(f(a + (2 * i - 1) * h) for i in range(1, steps // 2 + 1))
    total += 2 * sum(f(a + 2 * i * h) for i in range(1, steps // 2))
    return total * h / 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", choices=sorted(FUNCTIONS), required=True)
    parser.add_argument("--slice", type=int, required=True)
    parser.add_argument("--slices", type=int, required=True)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    f, low, high = FUNCTIONS[args.function]
    width = (high - low) / args.slices
    a = low + args.slice * width
    value = simpson(f, a, a + width, args.steps)
    result = {"function": args.function, "slice": args.slice, "slices": args.slices, "a": a, "b": a + width}
    result["value"] = value
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
