"""Post-run: summarise the learning curve into results/metrics.json."""

import csv
import json

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
