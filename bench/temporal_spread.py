"""How much the temporal stage's held-out views vary between trainings and epochs.

Reads the curves `bench/temporal_epochs.py` wrote (one file per training: another seed, or
another spatial model's embeddings) and writes the range of each held-out figure over every
measured epoch of every training. `publish --metrics temporal_spread=OUT.json` puts it in a
model card, whose limitations then say how far one draw of the stage can be trusted.

    python bench/temporal_spread.py CURVES.json [CURVES.json ...] --out spread.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIGURES = {"localisation": "held_loc", "marker_near_boundary": "near",
           "real_windows_marked": "real_marked", "row_entropy": "real_entropy"}


def spread(curves: list[dict]) -> dict:
    """The min and max of each held-out figure over all rows of all curves."""
    rows = [row for curve in curves for row in curve["rows"]]
    if not rows:
        raise ValueError("no measured epochs in these curves")
    out: dict = {"trainings": len(curves), "epochs_measured": len(rows),
                 "seeds": sorted({int(c["args"]["seed"]) for c in curves})}
    for name, key in FIGURES.items():
        values = [row[key] for row in rows if key in row]
        if values:
            out[name] = [round(min(values), 3), round(max(values), 3)]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("curves", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    result = spread([json.loads(path.read_text()) for path in a.curves])
    result["curves"] = [path.name for path in a.curves]
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
