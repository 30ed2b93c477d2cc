"""Draws bench/chart.png from bench/results.json: init and first response per function, beside
the floor and FastAPI + Mangum (log scale: FastAPI is two orders of magnitude slower)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(results_path: str, chart_path: str) -> None:
    data = json.load(open(results_path))
    results = data["results"]
    names = [r["name"] for r in results]
    init = [r["init_ms"] for r in results]
    first = [r["first_response_ms"] for r in results]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.4
    ax.bar([i - width / 2 for i in x], init, width, label="init (start → first poll)")
    ax.bar([i + width / 2 for i in x], first, width, label="first response (start → answer, with I/O)")
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds (log scale)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=20)
    machine = data.get("machine", {})
    ax.set_title(f"Cold start per function, {machine.get('arch', '')}, {machine.get('date', '')}")
    for i, (a, b) in enumerate(zip(init, first)):
        ax.annotate(f"{b:.1f}", (i + width / 2, b), ha="center", va="bottom", fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(chart_path, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
