#!/usr/bin/env python3
"""Figures and a table from geoddp results directories (for instance one per WAN bandwidth).

Usage: analysis/geoddp.py RESULTS_DIR [RESULTS_DIR ...] [--out PREFIX]
Each RESULTS_DIR is a geoddp --out directory: run.json, summary.json, metrics.csv (one row per
scheme), one folder per scheme (summary.json, metrics.csv: one row per iteration) and, with
--sweep, sweep.csv. Writes
  PREFIX-accuracy.png   test accuracy against training time, per scheme (one panel per directory),
                        the target accuracy dashed;
  PREFIX-iteration.png  mean iteration time per scheme split into compute and exposed
                        communication, the simulator's prediction as a marker (one panel per directory);
  PREFIX-sweep.png      (when a directory has sweep.csv) the simulator's speedup over ssgd against
                        inter-DC bandwidth, one line per scheme, one panel per worker count;
and prints, per directory and scheme, the measured and predicted iteration time, the prediction
error, the time to the target accuracy and the final accuracy.
A missing or malformed results file is reported as one message naming it, with exit code 2.
"""
import argparse
import json
import math
import pathlib
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
    import numpy as np  # noqa: E402
    import pandas as pd  # noqa: E402
    from matplotlib.lines import Line2D  # noqa: E402
    from matplotlib.patches import Patch  # noqa: E402
    from matplotlib.ticker import FuncFormatter  # noqa: E402
except ImportError as e:
    sys.exit(f"error: {e}: analysis/geoddp.py needs matplotlib, pandas and numpy "
             "(apt-get install python3-matplotlib python3-pandas python3-numpy, then run it with /usr/bin/python3)")

COMPARISON = ["scheme", "H", "iter_ms", "predicted_ms", "prediction_error", "compute_ms", "exposed_ms",
              "time_to_target_s", "final_acc"]
ITERATION = ["iteration", "test_acc", "train_time_s"]
SWEEP = ["workers", "inter_bandwidth_bps", "scheme", "H", "iteration_s", "speedup_vs_ssgd"]
BAD_INPUT = 2


class BadResults(Exception):
    """A results file that is missing or malformed: str() names the file and what is wrong."""


def read_json(path: pathlib.Path, hint: str) -> dict:
    if not path.is_file():
        raise BadResults(f"{path} does not exist: {hint}")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadResults(f"{path} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise BadResults(f"{path} is not a JSON object")
    return value


def read_csv(path: pathlib.Path, required: list, numeric: list, hint: str) -> pd.DataFrame:
    if not path.is_file():
        raise BadResults(f"{path} does not exist: {hint}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise BadResults(f"{path} is not a readable CSV file ({str(e).strip()})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BadResults(f"{path} lacks the columns {missing}: {hint}")
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & values.isna()
        if bad.any():
            row = int(bad.idxmax())
            raise BadResults(f"{path}: column {column} has the non-number {frame[column][row]!r} on data row {row + 1}")
        frame[column] = values
    return frame


def link_label(config: dict) -> str:
    """The panel title: the inter-DC links of the run, from run.json's config."""
    if config.get("bandwidth"):
        text = f"bandwidth {config['bandwidth']}"
        if config.get("latency"):
            text += f", latency {config['latency']}"
        return text
    if config.get("link_trace"):
        return f"link trace {pathlib.Path(str(config['link_trace'])).name}"
    if config.get("regions"):
        return f"regions {config['regions']}"
    return "no WAN"


def bandwidth_bps(text) -> float:
    """geoddp's --bandwidth text ("1Gbit", "100Mbps", "1e9") in bit/s, or NaN."""
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z/]*)\s*", str(text or ""))
    if not match:
        return math.nan
    unit = match.group(2).lower()
    unit = unit[:-2] if len(unit) > 2 and unit.endswith("/s") else unit
    unit = unit[:-2] + "bit" if unit.endswith("ps") else unit
    scale = {"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12}.get(unit)
    try:
        return float(match.group(1)) * scale if scale else math.nan
    except ValueError:
        return math.nan


def load(directory: pathlib.Path) -> dict:
    hint = "pass a directory written by geoddp --out"
    if not directory.is_dir():
        raise BadResults(f"{directory} is not a directory: {hint}")
    summary_path = directory / "summary.json"
    summary = read_json(summary_path, hint)
    schemes = summary.get("schemes")
    if not isinstance(schemes, list) or not schemes:
        raise BadResults(f"{summary_path} has no non-empty 'schemes' list: is {directory} a geoddp --out directory "
                         "(not one scheme's folder)?")
    names = []
    for i, entry in enumerate(schemes):
        if not isinstance(entry, dict) or not isinstance(entry.get("scheme"), str) or not entry["scheme"]:
            raise BadResults(f"{summary_path}: schemes[{i}] has no 'scheme' name")
        names.append(entry["scheme"])

    run_path = directory / "run.json"
    run = read_json(run_path, hint) if run_path.exists() else {}
    config = run.get("config", {})
    if not isinstance(config, dict):
        raise BadResults(f"{run_path}: 'config' is not a JSON object")

    table = read_csv(directory / "metrics.csv", COMPARISON,
                     [c for c in COMPARISON if c != "scheme"], "is it a geoddp results directory?")
    table["scheme"] = table["scheme"].astype(str)
    for name in names:
        if name not in set(table["scheme"]):
            raise BadResults(f"{directory / 'metrics.csv'} has no row for the scheme '{name}' listed in {summary_path}")
    table = table.set_index("scheme").loc[names].reset_index()

    per_scheme = {}
    for name in names:
        folder = directory / name
        scheme_hint = f"geoddp writes one folder per scheme ({name}/) next to {summary_path.name}"
        scheme_summary = read_json(folder / "summary.json", scheme_hint)
        target = scheme_summary.get("target_acc")
        if not isinstance(target, (int, float)) or isinstance(target, bool):
            raise BadResults(f"{folder / 'summary.json'} has no numeric 'target_acc'")
        rows = read_csv(folder / "metrics.csv", ITERATION, ITERATION, scheme_hint)
        per_scheme[name] = {"target_acc": float(target), "evals": rows.dropna(subset=["test_acc", "train_time_s"])}

    sweep = None
    if (directory / "sweep.csv").exists():
        sweep = read_csv(directory / "sweep.csv", SWEEP, [c for c in SWEEP if c != "scheme"],
                         "is it the sweep.csv of geoddp --sweep?")
        sweep["scheme"] = sweep["scheme"].astype(str)
        if sweep.empty:
            raise BadResults(f"{directory / 'sweep.csv'} has no rows")

    return {"dir": directory, "name": directory.resolve().name or str(directory), "config": config,
            "links": link_label(config), "bandwidth_bps": bandwidth_bps(config.get("bandwidth")),
            "schemes": names, "table": table, "per_scheme": per_scheme, "sweep": sweep}


def colours(results: list) -> dict:
    names = []
    for r in results:
        names += r["schemes"]
        if r["sweep"] is not None:
            names += list(r["sweep"]["scheme"])
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(dict.fromkeys(names))}


def scheme_label(name: str, period) -> str:
    return f"{name} (H={int(period)})" if not pd.isna(period) and period > 1 else name


def panel_title(r: dict) -> str:
    return f"{r['links']}\n{r['name']}"


def plot_accuracy(results: list, colour: dict, out: pathlib.Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False, sharey=True)
    for ax, r in zip(axes[0], results):
        periods = dict(zip(r["table"]["scheme"], r["table"]["H"]))
        for name in r["schemes"]:
            evals = r["per_scheme"][name]["evals"]
            if not evals.empty:
                ax.plot(evals["train_time_s"], evals["test_acc"], marker="o", ms=3, color=colour[name],
                        label=scheme_label(name, periods.get(name)))
        targets = sorted({s["target_acc"] for s in r["per_scheme"].values()})
        for i, target in enumerate(targets):
            ax.axhline(target, color="0.35", ls="--", lw=1, label=f"target {100 * target:g}%" if i == 0 else None)
        if all(s["evals"].empty for s in r["per_scheme"].values()):
            ax.text(0.5, 0.5, "no evaluation rows\n(geoddp --eval-every)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
        ax.set_xlabel("training time (s)")
        ax.set_title(panel_title(r), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy")
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def plot_iteration(results: list, colour: dict, out: pathlib.Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(max(3.6, 1.1 * max(len(r["schemes"]) for r in results) + 1.4)
                                                       * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results):
        t = r["table"]
        x = np.arange(len(t))
        colours_ = [colour[s] for s in t["scheme"]]
        ax.bar(x, t["compute_ms"], width=0.6, color=colours_, edgecolor="black", lw=0.6)
        ax.bar(x, t["exposed_ms"], width=0.6, bottom=t["compute_ms"], color=colours_, alpha=0.45, hatch="//",
               edgecolor="black", lw=0.6)
        ax.plot(x, t["predicted_ms"], ls="none", marker="D", ms=6, color="black")
        heights = np.nanmax(np.vstack([t["iter_ms"], t["compute_ms"] + t["exposed_ms"], t["predicted_ms"]]), axis=0)
        for xi, measured, height in zip(x, t["iter_ms"], heights):
            ax.annotate(f"{measured:.1f} ms", (xi, height), xytext=(0, 3), textcoords="offset points", ha="center",
                        fontsize=7)
        top = np.nanmax(heights)
        ax.set_ylim(0, 1.3 * top if top > 0 else 1)
        ax.set_xticks(x)
        ax.set_xticklabels([scheme_label(s, h) for s, h in zip(t["scheme"], t["H"])], fontsize=8)
        ax.set_ylabel("mean iteration time (ms)")
        ax.set_title(panel_title(r), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    handles = [Patch(facecolor="0.45", edgecolor="black", label="compute"),
               Patch(facecolor="0.45", alpha=0.45, hatch="//", edgecolor="black", label="exposed communication"),
               Line2D([], [], ls="none", marker="D", color="black", label="predicted (simulator)")]
    axes[0][0].legend(handles=handles, fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def human_bps(v: float, _pos=None) -> str:
    for scale, unit in ((1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} bit/s"


def plot_sweep(results: list, colour: dict, out: pathlib.Path) -> None:
    swept = [r for r in results if r["sweep"] is not None]
    workers = sorted(set().union(*(set(r["sweep"]["workers"].astype(int)) for r in swept)))
    ncols = min(len(workers), 2 if len(workers) == 4 else 3)
    nrows = math.ceil(len(workers) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows + 0.4), squeeze=False, sharey=True)
    styles = ["-", "--", ":", "-."]
    markers = dict(zip(colour, ["o", "s", "^", "v", "D", "P", "X", "*"] * 4))
    legend = {}  # label -> handle: colour and marker name the scheme, the line style the directory
    for ax in axes.flat[len(workers):]:
        ax.set_visible(False)
    for ax, n in zip(axes.flat, workers):
        for k, r in enumerate(swept):
            style = styles[k % len(styles)]
            part = r["sweep"][r["sweep"]["workers"] == n]
            for (name, period), rows in part.groupby(["scheme", "H"], sort=False):
                rows = rows.sort_values("inter_bandwidth_bps")
                ax.plot(rows["inter_bandwidth_bps"], rows["speedup_vs_ssgd"], marker=markers[name], ms=5, mfc="none",
                        ls=style, color=colour[name])
                legend.setdefault(scheme_label(name, period),
                                  Line2D([], [], marker=markers[name], ms=5, mfc="none", color=colour[name]))
            if not math.isnan(r["bandwidth_bps"]):
                ax.axvline(r["bandwidth_bps"], color="0.5", ls=style, lw=0.8)
        ax.axhline(1, color="0.35", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(human_bps))
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("inter-DC bandwidth")
        ax.set_title(f"{n} workers", fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for row in axes:
        row[0].set_ylabel("predicted speedup over ssgd")
    for k, r in enumerate(swept):
        legend[f"{r['name']} ({r['links']})"] = Line2D([], [], color="0.3", ls=styles[k % len(styles)])
    fig.suptitle("simulator sweep from each run's measured profile (vertical line: the run's own bandwidth)",
                 fontsize=9)
    fig.tight_layout()
    fig.legend(list(legend.values()), list(legend.keys()), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)


def print_table(results: list) -> None:
    for r in results:
        print(f"\n# {r['dir']}: {r['links']}")
        print(f"{'scheme':<16s} {'iter_ms':>9s} {'pred_ms':>9s} {'error':>7s} {'to_target':>10s} {'final_acc':>9s}")
        target = ", ".join(f"{100 * t:g}%" for t in sorted({s['target_acc'] for s in r['per_scheme'].values()}))
        for _, row in r["table"].iterrows():
            to_target = "not hit" if pd.isna(row["time_to_target_s"]) else f"{row['time_to_target_s']:.2f} s"
            print(f"{scheme_label(row['scheme'], row['H']):<16s} {row['iter_ms']:9.2f} {row['predicted_ms']:9.2f} "
                  f"{100 * row['prediction_error']:6.1f}% {to_target:>10s} {100 * row['final_acc']:8.2f}%")
        print(f"(time to target: to {target} test accuracy; error = (predicted - measured) / measured)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=pathlib.Path, metavar="RESULTS_DIR")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("geoddp"), metavar="PREFIX",
                        help="prefix of the figures: PREFIX-accuracy.png, PREFIX-iteration.png, PREFIX-sweep.png")
    args = parser.parse_args()

    try:
        results = [load(d) for d in args.dirs]
    except BadResults as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT

    prefix = str(args.out)
    pathlib.Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    colour = colours(results)
    figures = [pathlib.Path(f"{prefix}-accuracy.png"), pathlib.Path(f"{prefix}-iteration.png")]
    plot_accuracy(results, colour, figures[0])
    plot_iteration(results, colour, figures[1])
    if any(r["sweep"] is not None for r in results):
        figures.append(pathlib.Path(f"{prefix}-sweep.png"))
        plot_sweep(results, colour, figures[2])

    print_table(results)
    print()
    for figure in figures:
        print(f"figure: {figure}")
    if len(figures) == 2:
        print("no sweep.csv in any directory (geoddp --sweep): no sweep figure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
