# Draws the benchmark results with matplotlib. Loaded into the embedded interpreter by
# Bench.Chart and called through Py.call: the chart is drawn inside the BEAM.


def bench_chart(rows, title, path):
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    measured = [r for r in rows if r.get("value") is not None]
    panels = [
        (
            [r for r in measured if r["unit"].startswith("us/")],
            "microseconds per operation (log scale, lower is better)",
            True,
            "#4c72b0",
        ),
        (
            [r for r in measured if r["unit"].endswith("/s")],
            "operations or MB per second (log scale, higher is better)",
            True,
            "#55a868",
        ),
        (
            [r for r in measured if r["unit"] == "speedup"],
            "parallel speedup, fib(25) x4 (median of interleaved rounds; cpu = utilisation of the parallel phase, all threads and Python threads)",
            False,
            "#c44e52",
        ),
    ]
    panels = [p for p in panels if p[0]]
    if not panels:
        return None

    heights = [len(items) for items, *_ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, 0.3 * sum(heights) + 1.1 * len(panels) + 0.9),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )

    for ax, (items, xlabel, log, color) in zip(axes[:, 0], panels):
        labels = [r["name"] + (f" [{r['variant']}]" if r.get("variant") else "") for r in items]
        values = [r["value"] for r in items]
        positions = list(range(len(items)))
        bars = ax.barh(positions, values, color=color, height=0.7)
        ax.set_yticks(positions)
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(min(values) / 3, max(values) * 12)
        else:
            ax.set_xlim(0, max(max(values), 2.0) * 1.45)
            for x in (1.0, 2.0):
                ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
        for bar, row in zip(bars, items):
            note = f" {_number(row['value'])} {row['unit']}"
            extra = row.get("extra", {})
            if extra.get("cpu") is not None:
                note += f"  cpu {extra['cpu']:.2f}, python {extra['py cpu']:.2f}"
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, note,
                    va="center", fontsize=7)

    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _number(value):
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", " ")
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
