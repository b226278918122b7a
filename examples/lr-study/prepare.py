"""Pre-run: drop incomplete rows of data/raw/*.csv and standardise the features."""

import csv
import statistics
from pathlib import Path

rows = []
for path in sorted(Path("data/raw").glob("*.csv")):
    with path.open(newline="") as f:
        rows += [r for r in csv.DictReader(f) if all(v.strip() for v in r.values())]
features = [name for name in rows[0] if name != "label"]
for name in features:
    values = [float(r[name]) for r in rows]
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    for r in rows:
        r[name] = f"{(float(r[name]) - mean) / spread:.6f}"
Path("data").mkdir(exist_ok=True)
with Path("data/clean.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=[*features, "label"])
    writer.writeheader()
    writer.writerows(rows)
print(f"kept {len(rows)} complete rows, standardised {', '.join(features)}")
