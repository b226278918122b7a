"""Run: logistic regression by full-batch gradient descent. Parameters arrive as environment variables."""

import csv
import json
import math
import os
import random
from pathlib import Path

try:
    import expman  # its `log` appends to $EXPMAN_METRICS: curves in the report
except ImportError:  # run by hand, without expman: nothing is logged
    expman = None

LR = float(os.environ["LR"])
EPOCHS = int(os.environ["EPOCHS"])
SEED = int(os.environ["SEED"])
TEST_FRACTION = float(os.environ["TEST_FRACTION"])
FEATURES = json.loads(os.environ["FEATURES"])  # lists arrive as JSON

with open("data/clean.csv", newline="") as f:
    rows = [([float(r[n]) for n in FEATURES], int(r["label"])) for r in csv.DictReader(f)]
random.Random(SEED).shuffle(rows)
cut = int(len(rows) * (1 - TEST_FRACTION))
train, test = rows[:cut], rows[cut:]


def predict(w, b, x):
    z = b + sum(wi * xi for wi, xi in zip(w, x))
    return 1 / (1 + math.exp(-z))


def accuracy(w, b, data):
    return sum((predict(w, b, x) > 0.5) == bool(y) for x, y in data) / len(data)


w, b = [0.0] * len(FEATURES), 0.0
curve = []
for epoch in range(1, EPOCHS + 1):
    loss, grad_w, grad_b = 0.0, [0.0] * len(w), 0.0
    for x, y in train:
        p = predict(w, b, x)
        loss -= math.log(max(p if y else 1 - p, 1e-12))
        grad_w = [g + (p - y) * xi for g, xi in zip(grad_w, x)]
        grad_b += p - y
    w = [wi - LR * g / len(train) for wi, g in zip(w, grad_w)]
    b -= LR * grad_b / len(train)
    curve.append((epoch, loss / len(train), accuracy(w, b, test)))
    if expman is not None:
        expman.log(step=epoch, loss=curve[-1][1], test_accuracy=curve[-1][2])
    print(
        f"epoch {epoch:3d}  loss {curve[-1][1]:.4f}  test accuracy {curve[-1][2]:.3f}", flush=True
    )

Path("results").mkdir(exist_ok=True)
with open("results/curve.csv", "w") as f:
    f.write("epoch,loss,test_accuracy\n")
    f.writelines(f"{e},{loss:.6f},{acc:.4f}\n" for e, loss, acc in curve)
