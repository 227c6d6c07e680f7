"""Figures with matplotlib: the sweep's error-versus-labels plot, first-layer filters as image tiles, and rows of
images (clean, corrupted, reconstructed). Each returns the figure; `path` also saves it."""

import math

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() in ("", "agg") else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_sweep(summary: list[dict], path=None, title: str = ""):
    """Test error against number of labels (log x), one line per method, 95% interval bands over seeds; beside
    it, where the grid pairs a pretrained method with the same remedies from a random init, their paired
    difference per budget with its 95% interval and a zero line (the bands overlap; the pairing shows)."""
    pairs = [e for e in summary if e.get("counterpart_diff") is not None]
    if pairs:
        fig, (ax, diff_ax) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": (3, 2)})
        _plot_paired_differences(diff_ax, pairs)
    else:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(e["method"] for e in summary):
        at = sorted((e for e in summary if e["method"] == method), key=lambda e: e["labels"])
        x = np.array([e["labels"] for e in at])
        y = 100 * np.array([e["test_error"] for e in at])
        ci = 100 * np.array([e["test_ci95"] or 0.0 for e in at])
        line, = ax.plot(x, y, marker="o", label=method, linestyle="-" if "dae" in method else "--")
        ax.fill_between(x, np.clip(y - ci, 0, 100), np.clip(y + ci, 0, 100), color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    budgets = sorted({e["labels"] for e in summary})
    ax.set_xticks(budgets, [f"{b:,}" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test error (%)")
    ax.set_title(title or "test error vs labels (mean, 95% interval over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _finish(fig, path)


def _plot_paired_differences(ax, pairs: list[dict]):
    """One row per pretrained method and budget: its test error minus its random-init counterpart's, paired
    over seeds, with the 95% interval (a single seed: the point alone)."""
    pairs = sorted(pairs, key=lambda e: (e["labels"], e["method"]))
    y = np.arange(len(pairs))[::-1]
    x = 100 * np.array([e["counterpart_diff"] for e in pairs])
    ci = 100 * np.array([e["counterpart_ci95"] or 0.0 for e in pairs])
    ax.errorbar(x, y, xerr=ci, fmt="o", capsize=3)
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(y, [f"{e['method']} − {e['counterpart']}, {e['labels']:,} labels" for e in pairs], fontsize=8)
    ax.set_xlabel("paired difference in test error (points; < 0: pretraining better)")
    ax.set_title("pretrained minus the same method from a random init")
    ax.grid(True, axis="x", alpha=0.3)


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


def code_scatter(named_codes: dict, labels, path=None, title: str = "", columns: int | None = None):
    """One panel per name of 2-D codes (e.g. pretrained, random-init and PCA encoders), coloured by class;
    `columns` panels per row (default: all in one row)."""
    labels = np.asarray(labels)
    columns = columns or len(named_codes)
    rows = -(-len(named_codes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(named_codes):]:
        ax.axis("off")
    for ax, (name, codes) in zip(axes.ravel(), named_codes.items()):
        codes = np.asarray(codes)
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels[:len(codes)], cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=list(axes.ravel()), ticks=range(10), shrink=0.8, label="class")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_depth(cells: dict, path=None, title: str = ""):
    """Test error against depth, one panel per activation, one line per method (mean and 95% interval over
    seeds; a diverged cell is left out), from the cells of a depth study."""
    cells = [c for c in cells.values() if c.get("test_error") is not None]
    activations = list(dict.fromkeys(c["activation"] for c in cells))
    fig, axes = plt.subplots(1, len(activations), figsize=(5.5 * len(activations), 4), squeeze=False, sharey=True)
    for ax, activation in zip(axes[0], activations):
        mine = [c for c in cells if c["activation"] == activation]
        for method in dict.fromkeys(c["method"] for c in mine):
            line = sorted((c for c in mine if c["method"] == method), key=lambda c: c["depth"])
            ax.errorbar([c["depth"] for c in line], [100 * c["test_error"] for c in line],
                        yerr=[100 * (c["test_error_ci95"] or 0) for c in line], marker="o", capsize=3, label=method)
        ax.set_title(activation)
        ax.set_xlabel("hidden layers")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("test error (%)")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_initial_gradients(named_norms: dict, path=None, title: str = ""):
    """Gradient norm of each layer's kernel at initialisation (mean over seeds, log scale), one line per name,
    from `initial_gradient_norms` results: {name: {"encoders.0.kernel": [per seed], ..., "head.kernel": [...]}}."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, norms in named_norms.items():
        layers = sorted((k for k in norms if k.startswith("encoders.")), key=lambda k: int(k.split(".")[1]))
        layers.append("head.kernel")
        ax.plot(range(1, len(layers) + 1), [np.mean(norms[k]) for k in layers], marker="o", label=name)
    ax.set_yscale("log")
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
    for name, values in _layer_series(history, "grad_norm", member).items():
        if name.endswith(parameter):
            ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (or evaluation)")
    ax.set_ylabel("gradient norm (mean over the epoch's steps)")
    ax.set_title(title or f"per-layer gradient norms ({parameter})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def plot_activation_means(history, path=None, title: str = "", member: int = 0):
    """Mean activation of each hidden layer on the held-out data against epoch, from a run's history (diagnostics
    on), for one member (seed): a sigmoid layer drifting to 0 or 1 is saturating (Glorot & Bengio 2010)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in _layer_series(history, "act_mean", member).items():
        ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=name)
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


def plot_unit_fractions(history, path=None, title: str = "", member: int = 0, epoch: int = -1):
    """Dead and saturated unit fractions and exact-zero activations per hidden layer at one epoch (bars)."""
    entry = history[epoch]
    layers = [k.split("/", 1)[1] for k in entry if k.startswith("dead_fraction/")]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(layers) + 2), 3.5))
    for i, (statistic, label) in enumerate((("dead_fraction", "dead units"), ("saturated_fraction", "saturated"),
                                            ("zero_fraction", "zero activations"))):
        values = [np.atleast_1d(entry[f"{statistic}/{layer}"])[member] for layer in layers]
        ax.bar(x + (i - 1) * 0.27, values, width=0.27, label=label)
    ax.set_xticks(x, layers, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.set_title(title or f"units per layer, epoch {entry.get('epoch', '')}")
    ax.legend(fontsize=7)
    return _finish(fig, path)
