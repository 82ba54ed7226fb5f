"""Map/reduce word count: ``map`` counts the words of one part of a text, ``reduce`` adds the parts up."""

import argparse
import collections
import json
import re
from pathlib import Path

WORD = re.compile(r"[a-z']+")


def map_part(text_file: Path, part: int, parts: int, out: Path) -> None:
    lines = text_file.read_text(encoding="utf-8").splitlines()
    mine = lines[part - 1 :: parts]
    counts = collections.Counter(word for line in mine for word in WORD.findall(line.lower()))
    out.write_text(json.dumps({"part": part, "lines": len(mine), "counts": counts}, indent=1), encoding="utf-8")
    print(f"part {part}/{parts}: {len(mine)} lines, {sum(counts.values())} words")


def reduce_parts(folder: Path, parts: int, out: Path) -> None:
    found = sorted(folder.rglob("counts-*.json"))
    if len(found) != parts:
        raise SystemExit(f"expected {parts} map results under {folder}, found {len(found)}")
    total: collections.Counter[str] = collections.Counter()
    for path in found:
        total.update(json.loads(path.read_text(encoding="utf-8"))["counts"])
    top = total.most_common(20)
    out.write_text(json.dumps({"words": sum(total.values()), "distinct": len(total), "top": top}, indent=1))
    print(f"{sum(total.values())} words, {len(total)} distinct; most common: {top[:5]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    mapper = sub.add_parser("map")
    mapper.add_argument("--text", type=Path, required=True)
    mapper.add_argument("--part", type=int, required=True)
    mapper.add_argument("--parts", type=int, required=True)
    mapper.add_argument("--out", type=Path, required=True)
    reducer = sub.add_parser("reduce")
    reducer.add_argument("--folder", type=Path, required=True)
    reducer.add_argument("--parts", type=int, required=True)
    reducer.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.step == "map":
        map_part(args.text, args.part, args.parts, args.out)
    else:
        reduce_parts(args.folder, args.parts, args.out)


if __name__ == "__main__":
    main()
