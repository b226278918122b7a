"""The example notebook runs, on a sweep its script makes, in a real Jupyter kernel: it
cannot rot. Its committed form holds no outputs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import required

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook"


def test_the_committed_notebook_holds_no_outputs() -> None:
    document = json.loads((NOTEBOOK / "explore.ipynb").read_text(encoding="utf-8"))
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_the_example_notebook_runs_on_the_sweep_its_script_makes(tmp_path: Path) -> None:
    nbformat = required("nbformat", "the notebook extra is in the test extra")
    nbclient = required("nbclient", "the notebook extra is in the test extra")
    study = tmp_path / "lr-study"
    made = subprocess.run(
        ["bash", str(NOTEBOOK / "make_study.sh"), str(study)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    notebook = nbformat.read(NOTEBOOK / "explore.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    os.environ["EXPMAN_STUDY"] = str(study)  # the kernel inherits the environment
    try:
        client.execute()  # raises CellExecutionError, with the cell, on any error
    finally:
        del os.environ["EXPMAN_STUDY"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    kinds = [sorted(o.get("data", {})) for o in outputs]
    assert ["image/png", "text/plain"] in kinds, "the curves are drawn"
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert html[0].startswith("<table>") and "12 rows x 6 columns" in html[0]
    assert "LR=500.0" not in html[0] and "failed" in html[0]  # the overflowing points
    assert '"best_acc"' in outputs[-1]["text"]
