"""The `learnlab` command (thin subcommands over the lab's packages), and the lab's notebook API:

    from learnlab import study_table, heatmap, save
    df = study_table("fig-ring-quick")        # a study's tidy table: stored here, else exported in results/
    fig, cells = heatmap(df, "n_modes", "separation", "modes_captured_fraction")
    save(fig, cells, "ring.png")              # the PNG and the CSV of the plotted numbers

Studies are found under $LEARNLAB_ROOT (default: lightning_logs/ of the working directory) and in
the project's results/. Names are imported on first use, so the command stays quick to start.
"""
import importlib

API = {
    "study_table": "analysis.table", "aggregate": "analysis.table", "where": "analysis.table",
    "results": "experiments.results", "export": "experiments.results", "read_export": "experiments.results",
    "heatmap": "analysis.plots", "curve": "analysis.plots", "onset": "analysis.plots", "save": "analysis.plots",
    "figure": ("analysis.figures", "make"), "make_distribution": ("distributions", "make"),
    "run_sweep": "experiments.sweep",
}
__all__ = sorted(API)


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'learnlab' has no attribute {name!r}; the API is {', '.join(__all__)}")
    module, attr = API[name] if isinstance(API[name], tuple) else (API[name], name)
    return getattr(importlib.import_module(module), attr)
