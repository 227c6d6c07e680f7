"""Figures with matplotlib: the sweep's error-versus-labels plot and its paired differences, the depth study's
error-versus-depth plot, first-layer filters as image tiles, rows of images (clean, corrupted, reconstructed),
2-D code scatters and per-layer diagnostics. Each returns the figure; `path` also saves it."""

import math
import textwrap

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() in ("", "agg") else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", ":", "-.")


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _percent_log_y(ax, values, floor: float = 0.0):
    """A log y axis of percentages with plain tick labels (1, 2, 3, 5, 10, ...) spanning `values` (positive ones)
    down to `floor` at most: an interval reaching further runs off the bottom edge rather than squeeze the rest."""
    values = np.asarray([v for v in values if v > 0])
    lo, hi = (max(values.min(), floor), values.max()) if len(values) else (1.0, 100.0)
    ax.set_yscale("log")
    axis = ax.yaxis
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(lo / 1.15, hi * 1.15)


def _clipped_yerr(mean, ci, lo=0.0, hi=100.0):
    """Error-bar lengths (below, above) of mean ± ci clipped to the possible range [lo, hi]."""
    mean, ci = np.asarray(mean, float), np.asarray(ci, float)
    return np.stack([mean - np.clip(mean - ci, lo, hi), np.clip(mean + ci, lo, hi) - mean])


def plot_sweep(summary: list[dict], path=None, title: str = ""):
    """Test error against number of labels (log x and log y, so the 1-10% region reads), one line per method: the
    mean over seeds with its 95% interval clipped to [0, 100]% (bars, offset a little per method so none hides
    another; one reaching far below the lowest mean runs off the bottom edge). Solid lines are pretrained
    methods, dashed ones random or data-driven inits; a pretrained method shares its colour with its random-init
    counterpart (the same remedies). Beside it, where the grid has such pairs, their paired difference per
    budget with its 95% interval and a zero line (`summarize`'s numbers)."""
    from stackae.methods import parse_method

    pairs = [e for e in summary if e.get("counterpart_diff") is not None]
    methods = list(dict.fromkeys(e["method"] for e in summary))
    height = 4.6 + 0.2 * math.ceil(len(methods) / 3)  # the legend sits below the axes
    if pairs:
        fig, (ax, diff_ax) = plt.subplots(1, 2, figsize=(13, height), gridspec_kw={"width_ratios": (3, 2)})
        _paired_rows(diff_ax, sorted(pairs, key=lambda e: (e["labels"], e["method"])), "counterpart",
                     lambda e: f"{e['method']} − {e['counterpart']}, {e['labels']:,} labels")
        diff_ax.set_xlabel("paired difference in test error (points; < 0: pretraining better)")
        diff_ax.set_title("pretrained minus the same method from a random init\n"
                          "(mean, 95% interval, filled: excludes 0; k/n: seeds won)", fontsize=10)
    else:
        fig, ax = plt.subplots(figsize=(8, height))
    counterpart = {e["method"]: e["counterpart"] for e in summary if e.get("counterpart")}
    colours = {}
    for m in methods:
        if m not in counterpart:
            colours[m] = f"C{len(colours) % 10}"
    taken = set()
    for m in methods:  # a pretrained method takes its counterpart's colour (the first one only: one per pair)
        if m in counterpart:
            own = counterpart[m] in colours and counterpart[m] not in taken
            taken.add(counterpart[m])
            colours[m] = colours[counterpart[m]] if own else f"C{len(set(colours.values())) % 10}"
    shown = []
    for i, method in enumerate(methods):
        at = sorted((e for e in summary if e["method"] == method), key=lambda e: e["labels"])
        x = np.array([e["labels"] for e in at], float) * 10 ** (0.02 * (i - (len(methods) - 1) / 2))
        y = 100 * np.array([e["test_error"] for e in at])
        ci = 100 * np.array([e["test_ci95"] or 0.0 for e in at])
        yerr = _clipped_yerr(y, ci)
        pretrained = parse_method(method).pretrained
        ax.errorbar(x, y, yerr=yerr, color=colours[method], marker=MARKERS[i % len(MARKERS)], markersize=5,
                    linestyle="-" if pretrained else "--", linewidth=1.4, capsize=2, elinewidth=1, label=method)
        shown += list(y - yerr[0]) + list(y + yerr[1])
    ax.set_xscale("log")
    budgets = sorted({e["labels"] for e in summary})
    ax.set_xticks(budgets, [f"{b:,}" for b in budgets])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(min(budgets) / 1.5, max(budgets) * 1.5)
    _percent_log_y(ax, shown, floor=min(100 * e["test_error"] for e in summary) / 2.5)
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test error (%, log scale)")
    ax.set_title(title or "test error vs labels", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13), title_fontsize=8,
              title="mean and 95% interval over seeds (clipped to 0-100%); "
                    "solid: pretrained, dashed: random or data-driven init")
    fig.tight_layout()
    return _finish(fig, path)


_PAIRED = {"reference": ("diff", "diff_ci95", "wins", "reference"),
           "counterpart": ("counterpart_diff", "counterpart_ci95", "counterpart_wins", "counterpart")}


def _paired_rows(ax, entries: list[dict], against: str, label, y=None):
    """One row per entry (top to bottom): its paired difference to `against` in points with the 95% interval
    (a single seed: the point alone), the seeds where it is lower written beside it, and a zero line."""
    diff, ci95, wins, _ = _PAIRED[against]
    y = np.arange(len(entries))[::-1] if y is None else np.asarray(y)
    x = 100 * np.array([e[diff] for e in entries], float)
    ci = 100 * np.array([e[ci95] or 0.0 for e in entries], float)
    ax.errorbar(x, y, xerr=ci, fmt="o", color="tab:blue", markerfacecolor="white", capsize=3, label="_paired")
    clear = np.abs(x) > ci  # the interval excludes zero (a single seed never does)
    clear &= np.array([e[ci95] is not None for e in entries], bool)
    ax.plot(x[clear], y[clear], "o", color="tab:blue", zorder=3, label="_excludes zero")
    ax.axvline(0.0, color="black", linewidth=1)
    for xi, yi, ci_i, e in zip(x, y, ci, entries):
        if e[wins] is not None:
            ax.annotate(f"{e[wins]}/{e['seeds']}", (xi + ci_i, yi), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=7, color="dimgray")
    if label is not None:
        ax.set_yticks(y, [label(e) for e in entries], fontsize=8)
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)


def plot_paired_differences(summary: list[dict], against: str = "reference", path=None, title: str = ""):
    """One panel per label budget: each method's test error minus the budget's reference (the non-pretrained
    method with the lowest validation error; `against="counterpart"`: minus the same remedies from a random init),
    paired over seeds, mean and 95% interval (a filled marker: it excludes zero), with a zero line and the seeds
    won, as `sweep.summarize` computed them (negative: better than the reference). Unpaired intervals overlap
    where a paired difference does not."""
    diff, _, _, other = _PAIRED[against]
    reference = against == "reference"
    budgets = list(dict.fromkeys(e["labels_per_class"] for e in summary))
    methods = [m for m in dict.fromkeys(e["method"] for e in summary)
               if any(e["method"] == m and (e[diff] is not None or reference and e[other] == m) for e in summary)]
    row = {m: len(methods) - 1 - i for i, m in enumerate(methods)}
    versus = {e["method"]: e[other] for e in summary if e[diff] is not None}
    fig, axes = plt.subplots(1, len(budgets), figsize=(3.6 * len(budgets) + 1.6, 0.34 * len(methods) + 1.7),
                             squeeze=False, sharey=True)
    for ax, budget in zip(axes[0], budgets):
        at = [e for e in summary if e["labels_per_class"] == budget]
        paired = [e for e in at if e[diff] is not None]
        _paired_rows(ax, paired, against, None, y=[row[e["method"]] for e in paired])
        refs = {e[other] for e in at if e[other] is not None}
        for ref in refs & set(row) if reference else ():
            ax.annotate("reference", (0, row[ref]), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=7, color="black", style="italic")
        ax.set_title(f"{at[0]['labels']:,} labels" + (f": minus {', '.join(sorted(refs))}" if reference else ""),
                     fontsize=9)
        ax.set_xlabel("difference in test error (points)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[0, 0].set_yticks(list(row.values()), [m if reference else f"{m} − {versus[m]}" for m in row], fontsize=8)
    axes[0, 0].set_ylim(-0.7, len(methods) - 0.3)
    what = ("the reference (< 0: better)" if reference else
            "the same method from a random init (< 0: pretraining better)")
    fig.suptitle(textwrap.fill(title or f"paired difference to {what}: mean and 95% interval over seeds (filled: "
                               "the interval excludes 0); k/n: seeds where the method is lower",
                               int(11 * fig.get_figwidth())), fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


def image_tiles(images_nd, image_shape, columns: int = 10, path=None, title: str = ""):
    """Rows of small images (e.g. first-layer filters, one per column of W, each scaled to its own range)."""
    images = np.asarray(images_nd)
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), images):
        ax.imshow(img.reshape(image_shape), cmap="gray")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def image_rows(named_rows: dict, image_shape, path=None):
    """One row per name (e.g. clean / corrupted / reconstructed), the same examples in every column."""
    names = list(named_rows)
    columns = len(named_rows[names[0]])
    fig, axes = plt.subplots(len(names), columns, figsize=(columns * 0.9, len(names) * 1.0), squeeze=False)
    for r, name in enumerate(names):
        for c, img in enumerate(np.asarray(named_rows[name])):
            axes[r, c].imshow(img.reshape(image_shape), cmap="gray", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    return _finish(fig, path)


def collapsed_code_note(codes_n2) -> str | None:
    """The words a code panel needs when its points cannot show a spread: every point at one value (a dead
    code), or one code unit constant; None for a code that varies in both units."""
    codes = np.asarray(codes_n2, float)
    finite = codes[np.all(np.isfinite(codes), axis=1)]
    if len(finite) == 0:
        return f"no finite code (all {len(codes)} points NaN or infinite)"
    scale = max(1.0, float(np.abs(finite).max()))
    constant = np.ptp(finite, axis=0) <= 1e-6 * scale
    if constant.all():
        at = ", ".join(f"{v:.3g}" for v in finite[0])
        return f"collapsed code:\nall {len(finite):,} points at one value ({at})"
    if constant.any():
        k = int(np.flatnonzero(constant)[0])
        return f"code unit {k + 1} constant ({finite[0, k]:.3g})\nfor all {len(finite):,} points"
    return None


def code_scatter(named_codes: dict, labels, path=None, title: str = "", columns: int | None = None):
    """One panel per name of 2-D codes (e.g. pretrained, random-init and PCA encoders), coloured by class;
    `columns` panels per row (default: all in one row). A code whose points all sit at one value (a dead code)
    or with a constant unit says so in its panel."""
    labels = np.asarray(labels)
    columns = min(columns or len(named_codes), len(named_codes))
    rows = -(-len(named_codes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns + 0.9, 3.5 * rows + (0.5 if title else 0.1)),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel()[len(named_codes):]:
        ax.axis("off")
    for ax, (name, codes) in zip(axes.ravel(), named_codes.items()):
        codes = np.asarray(codes)
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels[:len(codes)], cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
        ax.set_title(textwrap.fill(str(name), 34), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        note = collapsed_code_note(codes)
        if note is not None:
            ax.text(0.5, 0.75, note, transform=ax.transAxes, ha="center", va="center", fontsize=9,
                    bbox={"facecolor": "white", "edgecolor": "lightgray", "alpha": 0.9})
    fig.colorbar(points, ax=axes[:, :columns].ravel().tolist(), ticks=range(10), label="class",
                 shrink=min(1.0, 0.9 if rows == 1 else 0.5), aspect=30)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_depth(cells: dict, path=None, title: str = "", zoom_below: float = 20.0):
    """Test error against depth, one column per activation, one line per method, from the cells of a depth study:
    the mean over seeds with its 95% interval clipped to the possible range [0, 100]%, and each seed as a small
    hollow marker (a diverged cell is left out). The top row spans 0-100%; the row below zooms on the cells whose
    mean error is under `zoom_below` percent (the networks that train), where the differences are."""
    cells = [c for c in cells.values() if c.get("test_error") is not None]
    activations = list(dict.fromkeys(c["activation"] for c in cells))
    means = np.array([100 * c["test_error"] for c in cells])
    zoom = [c for c, m in zip(cells, means) if m < zoom_below]
    rows = 2 if zoom else 1
    fig, axes = plt.subplots(rows, len(activations), figsize=(5.5 * len(activations), 3.6 * rows), squeeze=False,
                             sharey="row", sharex="col", gridspec_kw={"height_ratios": (1, 1.25)[:rows]})
    shown = []
    for col, activation in enumerate(activations):
        mine = [c for c in cells if c["activation"] == activation]
        methods = list(dict.fromkeys(c["method"] for c in mine))
        for i, method in enumerate(methods):
            line = sorted((c for c in mine if c["method"] == method), key=lambda c: c["depth"])
            depth = np.array([c["depth"] for c in line], float) + 0.08 * (i - (len(methods) - 1) / 2)
            y = np.array([100 * c["test_error"] for c in line])
            yerr = _clipped_yerr(y, [100 * (c["test_error_ci95"] or 0) for c in line])
            seeds = [(d + 0.03, 100 * s["test_error"])
                     for d, c in zip(depth, line) for s in c.get("per_seed", ()) if s.get("test_error") is not None]
            for r in range(rows):
                ax = axes[r, col]
                bar = ax.errorbar(depth, y, yerr=yerr, marker=MARKERS[i % len(MARKERS)], markersize=5, capsize=3,
                                  color=f"C{i % 10}", label=method if r == 0 else None)
                if seeds:
                    ax.plot(*zip(*seeds), linestyle="none", marker=MARKERS[i % len(MARKERS)], markersize=4,
                            markerfacecolor="none", markeredgecolor=bar[0].get_color(), alpha=0.7)
            if any(c in zoom for c in line):
                shown += [v for c, lo, hi, m in zip(line, y - yerr[0], y + yerr[1], y) if c in zoom for v in (lo, hi)]
                shown += [v for _, v in seeds if v < zoom_below]
        axes[0, col].set_title(activation)
        axes[-1, col].set_xlabel("hidden layers")
        axes[-1, col].set_xticks(sorted({c["depth"] for c in mine}))
        axes[0, col].legend(fontsize=7, loc="center right", title="mean, 95% interval; ○ seeds", title_fontsize=7)
        for ax in axes[:, col]:
            ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylim(-3, 103)
    axes[0, 0].set_ylabel("test error (%)")
    if zoom:
        lo, hi = min(shown), min(max(shown), zoom_below)
        pad = 0.06 * (hi - lo) or 0.5
        axes[1, 0].set_ylim(max(0.0, lo - pad), hi + pad)
        axes[1, 0].set_ylabel(f"test error (%), zoom\non the cells under {zoom_below:g}%")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def _same_as(series: dict, rtol: float = 1e-6) -> dict:
    """{name: the first earlier name whose values are the same to `rtol`} for lines another one would hide."""
    out = {}
    names = list(series)
    for i, name in enumerate(names):
        a = np.asarray(series[name], float)
        for other in names[:i]:
            b = np.asarray(series[other], float)
            if a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0.0):
                out[name] = out.get(other, other)
                break
    return out


def plot_initial_gradients(named_norms: dict, path=None, title: str = ""):
    """Gradient norm of each layer's kernel at initialisation (mean over seeds, log scale), one line per name,
    from `initial_gradient_norms` results: {name: {"encoders.0.kernel": [per seed], ..., "head.kernel": [...]}}.
    Every line has its own marker and dash; a line equal to an earlier one says so in the legend."""
    series = {}
    for name, norms in named_norms.items():
        layers = sorted((k for k in norms if k.startswith("encoders.")), key=lambda k: int(k.split(".")[1]))
        series[name] = [np.mean(norms[k]) for k in (*layers, "head.kernel")]
    same = _same_as(series)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, values) in enumerate(series.items()):
        hidden = name in same
        ax.plot(range(1, len(values) + 1), values, marker=MARKERS[i % len(MARKERS)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], markersize=9 if hidden else 6,
                markerfacecolor="none" if hidden else None, linewidth=2.2 if hidden else 1.5, zorder=3 - hidden,
                label=f"{name} (the same as {same[name]})" if hidden else name)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (1 = bottom; the last is the softmax head)")
    ax.set_ylabel("gradient norm at initialisation")
    ax.set_title(title or "per-layer gradient norms at initialisation")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _finish(fig, path)


def _layer_series(history, statistic: str, member: int = 0):
    """{name: values over epochs} of every metric "<statistic>/<name>" in a run's history."""
    names = [k.split("/", 1)[1] for k in history[-1] if k.startswith(f"{statistic}/")] if history else []
    return {name: np.array([np.atleast_1d(h[f"{statistic}/{name}"])[member] for h in history]) for name in names}


def plot_gradient_norms(history, path=None, title: str = "", member: int = 0, parameter: str = "kernel"):
    """Gradient norm of each layer's `parameter` (kernel or bias) against epoch, log scale, from a run's history
    (diagnostics on), for one member (seed)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, values) in enumerate(_layer_series(history, "grad_norm", member).items()):
        if name.endswith(parameter):
            ax.plot(np.arange(1, len(values) + 1), values, marker=MARKERS[i % len(MARKERS)], markersize=4,
                    label=name)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (or evaluation)")
    ax.set_ylabel("gradient norm (mean over the epoch's steps)")
    ax.set_title(title or f"per-layer gradient norms ({parameter})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def plot_activation_means(history, path=None, title: str = "", member: int = 0):
    """Mean activation of each hidden layer on the held-out data against epoch, from a run's history (diagnostics
    on), for one member (seed): a sigmoid layer drifting to 0 or 1 is saturating (Glorot & Bengio 2010). Layers
    with one marker each, so lines that lie on each other still show."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, values) in enumerate(_layer_series(history, "act_mean", member).items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker=MARKERS[i % len(MARKERS)], markersize=4,
                markerfacecolor="none", linestyle=LINESTYLES[i % len(LINESTYLES)], label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (or evaluation)")
    ax.set_ylabel("mean activation (held-out data)")
    ax.set_title(title or "per-layer mean activation")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def activation_histograms(outputs, path=None, bins: int = 50, title: str = ""):
    """One histogram per hidden layer of activations on held-out data, e.g. `model.hidden(x)`."""
    fig, axes = plt.subplots(1, len(outputs), figsize=(2.6 * len(outputs), 2.6), squeeze=False)
    for k, (ax, h) in enumerate(zip(axes[0], outputs)):
        ax.hist(np.asarray(h).ravel(), bins=bins, color="tab:blue")
        ax.set_title(f"layer {k + 1}", fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


UNIT_STATISTICS = (("dead_fraction", "dead units"), ("saturated_fraction", "saturated"),
                   ("zero_fraction", "zero activations"))


def plot_unit_fractions(history, path=None, title: str = "", member: int = 0, epoch: int = -1):
    """Dead and saturated unit fractions and exact-zero activations per hidden layer at one epoch (bars). A
    statistic that is 0 in every layer has no bars, so its legend entry says so, and a panel where all three
    are 0 writes that in the panel."""
    entry = history[epoch]
    layers = [k.split("/", 1)[1] for k in entry if k.startswith("dead_fraction/")]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(layers) + 2), 3.5))
    empty = []
    for i, (statistic, label) in enumerate(UNIT_STATISTICS):
        values = np.array([np.atleast_1d(entry[f"{statistic}/{layer}"])[member] for layer in layers], float)
        none = not np.any(values)
        empty.append(none)
        ax.bar(x + (i - 1) * 0.27, values, width=0.27, label=f"{label} (0 in every layer)" if none else label)
    if all(empty):
        ax.text(0.5, 0.55, "every fraction is 0\nin every layer:\nno dead units,\nno saturated outputs,\nno exact zeros",
                transform=ax.transAxes, ha="center", va="center", fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "lightgray"})
    ax.set_xticks(x, layers, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.set_title(title or f"units per layer, epoch {entry.get('epoch', '')}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig, path)
