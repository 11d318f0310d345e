#!/usr/bin/python3
"""Figures from comm_bench results directories: bus bandwidth against message size for each
collective (one line per results directory), our all-reduce against raw MPI_Allreduce, and a
table of the ours/raw ratio at >= 1 MiB.

Usage: analysis/comm_bench.py RESULTS_DIR [RESULTS_DIR ...] [--out FIGURE.png]
Each RESULTS_DIR is a comm_bench --out directory (metrics.csv, run.json).
"""
import argparse
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REQUIRED = {"collective", "ranks", "bytes", "busbw_gbps", "raw_busbw_gbps", "ratio_ours_raw", "wrong"}


def load(directory: pathlib.Path) -> pd.DataFrame:
    metrics = directory / "metrics.csv"
    if not metrics.is_file():
        sys.exit(f"error: {metrics} does not exist: pass a directory written by comm_bench --out")
    frame = pd.read_csv(metrics)
    missing = REQUIRED - set(frame.columns)
    if missing:
        sys.exit(f"error: {metrics} lacks the columns {sorted(missing)}: is it a comm_bench results directory?")
    run = json.loads((directory / "run.json").read_text()) if (directory / "run.json").is_file() else {}
    hosts = run.get("hosts", [])
    frame["label"] = f"{directory.name} ({frame['ranks'].iloc[0]} ranks, {len(hosts) or '?'} host(s))"
    return frame


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:g} {unit}"
        n /= 1024
    return f"{n:g} TiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("comm_bench.png"))
    args = parser.parse_args()

    frame = pd.concat([load(d) for d in args.dirs], ignore_index=True)
    collectives = list(dict.fromkeys(frame["collective"]))
    fig, axes = plt.subplots(1, len(collectives), figsize=(4.2 * len(collectives), 3.6), squeeze=False)
    for ax, collective in zip(axes[0], collectives):
        part = frame[frame["collective"] == collective]
        for label, rows in part.groupby("label", sort=False):
            ax.plot(rows["bytes"], rows["busbw_gbps"], marker="o", ms=3, label=f"Meridian, {label}")
            raw = rows.dropna(subset=["raw_busbw_gbps"])
            if not raw.empty:
                ax.plot(raw["bytes"], raw["raw_busbw_gbps"], ls="--", label=f"raw MPI, {label}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("bus bandwidth (GB/s)")
        ax.set_title(collective)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)

    print(f"figure: {args.out}")
    wrong = pd.to_numeric(frame["wrong"], errors="coerce").fillna(0).sum()
    print(f"wrong results across all rows: {int(wrong)}")
    big = frame[(frame["collective"] == "all_reduce") & (frame["bytes"] >= 1 << 20)].dropna(subset=["ratio_ours_raw"])
    if not big.empty:
        print("all_reduce >= 1 MiB, ours/raw MPI bus bandwidth:")
        for _, row in big.iterrows():
            print(f"  {row['label']:40s} {human_bytes(row['bytes']):>10s}  {row['ratio_ours_raw']:.3f}")
        print(f"  minimum {big['ratio_ours_raw'].min():.3f}, median {big['ratio_ours_raw'].median():.3f}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
