"""Post-run: summarise the learning curve into results/metrics.json, and draw it
(results/curve.svg: the report shows it in the run's detail and in the diff)."""

import csv
import json
import math

with open("results/curve.csv", newline="") as f:
    curve = list(csv.DictReader(f))
accuracies = [float(row["test_accuracy"]) for row in curve]
reached = next((int(row["epoch"]) for row in curve if float(row["loss"]) < 0.35), None)
metrics = {
    "acc": accuracies[-1],
    "best_acc": max(accuracies),
    "loss": float(curve[-1]["loss"]),
    "epochs_to_loss_under_0_35": reached,  # a name JMESPath takes unquoted
}
with open("results/metrics.json", "w") as f:
    json.dump(metrics, f, indent=2)
print(json.dumps(metrics))


def polyline(values, top, colour):
    """The values as a line 280 wide and 50 high, from `top` down (higher values higher),
    from their own lowest to their own highest (`label` says which)."""
    low, high = min(values), max(values)
    span = (high - low) or 1
    points = " ".join(
        f"{10 + 280 * i / max(1, len(values) - 1):.1f},{top + 50 - 50 * (v - low) / span:.1f}"
        for i, v in enumerate(values)
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'


def label(name, values, y):
    """The line's name and its range: each line fills its own 50 px, so a change of 1%
    would look like a fall to nothing without it."""
    text = f"{name} {min(values):.4g} to {max(values):.4g}"
    return f'<text x="10" y="{y}" font-size="11">{text}</text>'


losses = [float(row["loss"]) for row in curve]
finite = [v if math.isfinite(v) else 0.0 for v in losses]
with open("results/curve.svg", "w") as f:
    f.write(
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="130">'
        '<rect width="300" height="130" fill="white"/>'
        + polyline(finite, 5, "#d9480f")
        + polyline(accuracies, 70, "#2463b0")
        + label("loss", finite, 14)
        + label("test accuracy", accuracies, 80)
        + "</svg>"
    )
