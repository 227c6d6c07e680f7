"""The figures say what the numbers say: clipped intervals, words in panels that would be empty, paired panels
drawn from the sweep summary's own numbers, integer epoch ticks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from stackae import plots  # noqa: E402
from stackae.experiments.sweep import COLUMNS, from_csv, summarize, to_csv  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return " ".join(t.get_text() for t in ax.texts)


def _depth_cell(activation, depth, method, errors):
    errors = np.asarray(errors)
    ci = 4.3 * errors.std(ddof=1) / np.sqrt(len(errors))  # a t-interval of 3 seeds: wide
    return {"activation": activation, "depth": depth, "method": method, "test_error": float(errors.mean()),
            "test_error_ci95": float(ci),
            "per_seed": [{"seed": s, "test_error": float(e)} for s, e in enumerate(errors)]}


def test_plot_depth_intervals_stay_within_0_and_100_percent():
    cells = {}
    for depth, errors in ((2, (0.05, 0.06, 0.055)), (4, (0.89, 0.90, 0.11)), (6, (0.02, 0.03, 0.20))):
        for method in ("glorot", "dae"):
            cell = _depth_cell("sigmoid", depth, method, errors)
            cells[f"sigmoid-{depth}-{method}"] = cell
    assert any(c["test_error"] + c["test_error_ci95"] > 1 for c in cells.values())  # the raw intervals overflow
    assert any(c["test_error"] - c["test_error_ci95"] < 0 for c in cells.values())
    fig = plots.plot_depth(cells)
    drawn = [seg for ax in fig.axes for bar in ax.containers for coll in bar.lines[2] for seg in coll.get_segments()]
    assert drawn
    ys = np.concatenate([np.asarray(seg)[:, 1] for seg in drawn])
    assert ys.min() >= 0.0 and ys.max() <= 100.0
    assert len(fig.axes) == 2  # the full range and the zoom on the trained cells
    zoom = fig.axes[1]
    assert zoom.get_ylim()[1] < 30  # the 3-10% region is spread over the panel


def test_code_scatter_names_a_collapsed_code():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 200)
    codes = {"linear code": rng.normal(size=(200, 2)), "dead relu code": np.zeros((200, 2)),
             "one unit dead": np.stack([rng.normal(size=200), np.zeros(200)], axis=1)}
    fig = plots.code_scatter(codes, labels, columns=2, title="codes")
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert "collapsed code" in _texts(panels["dead relu code"])
    assert "200 points" in _texts(panels["dead relu code"])
    assert "constant" in _texts(panels["one unit dead"])
    assert _texts(panels["linear code"]) == ""
    assert fig.get_layout_engine() is not None  # constrained layout: no blank band above the grid


def _synthetic_rows():
    """Three methods x two budgets x four seeds, one learning rate each (selected), dae ahead of he."""
    rng = np.random.default_rng(1)
    rows = []
    for budget, base in ((10, 0.20), (100, 0.08)):
        for method, shift in (("he", 0.0), ("glorot", 0.01), ("dae", -0.02)):
            for seed in range(4):
                error = base + shift + 0.01 * rng.normal()
                rows.append({"dataset": "digits", "data_hash": "x", "method": method, "labels_per_class": budget,
                             "labels": 10 * budget, "valid_examples": 10 * budget, "seed": seed,
                             "learning_rate": 0.1, "selected": True, "valid_error": error + shift,
                             "test_error": error, "best_step": 10, "steps": 20, "diverged": False,
                             "subset_hash": f"s{seed}", "head_hash": f"h{seed}", "cell_seconds": 1.0})
    return from_csv(to_csv([{k: r[k] for k in COLUMNS} for r in rows]))


def test_paired_difference_panel_draws_the_summary_paired_means():
    summary = summarize(_synthetic_rows())
    fig = plots.plot_paired_differences(summary)
    assert len(fig.axes) == 2  # one panel per budget
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    for ax, budget in zip(fig.axes, (10, 100)):
        paired = [e for e in summary if e["labels_per_class"] == budget and e["diff"] is not None]
        assert paired and all(e["reference"] == "he" for e in paired)
        bar = ax.containers[0]
        x, y = bar.lines[0].get_xdata(), bar.lines[0].get_ydata()
        np.testing.assert_allclose(x, [100 * e["diff"] for e in paired])
        ticks = dict(zip(fig.axes[0].get_yticks(), labels))
        assert [ticks[v] for v in y] == [e["method"] for e in paired]
        widths = [seg[1, 0] - seg[0, 0] for seg in bar.lines[2][0].get_segments()]
        np.testing.assert_allclose(widths, [2 * 100 * e["diff_ci95"] for e in paired])
        assert any(line.get_xdata()[0] == 0 and line.get_xdata()[1] == 0 for line in ax.lines)  # the zero line
        assert "reference" in _texts(ax)


def test_sweep_plot_has_a_log_error_axis_and_the_counterpart_panel():
    summary = summarize(_synthetic_rows())
    fig = plots.plot_sweep(summary, title="digits")
    errors_ax, diff_ax = fig.axes
    assert errors_ax.get_yscale() == "log"
    pairs = [e for e in summary if e["counterpart_diff"] is not None]
    np.testing.assert_allclose(diff_ax.containers[0].lines[0].get_xdata(),
                               [100 * e["counterpart_diff"] for e in sorted(pairs, key=lambda e: e["labels"])])
    legend = errors_ax.get_legend()
    assert "dashed" in legend.get_title().get_text()
    assert {"dae", "he", "glorot"} <= {t.get_text() for t in legend.get_texts()}
    lines = {c.get_label(): c.lines[0] for c in errors_ax.containers}
    assert lines["dae"].get_linestyle() == "-" and lines["he"].get_linestyle() == "--"
    assert lines["dae"].get_color() == lines[pairs[0]["counterpart"]].get_color()  # a pair shares its colour


def _history(epochs=5, layers=3):
    return [{**{f"grad_norm/encoders.{k}.kernel": np.full(2, 10.0 ** -k * (1 + e)) for k in range(layers)},
             **{f"act_mean/layer{k + 1}": np.full(2, 0.5 - 0.01 * e * k) for k in range(layers)},
             **{f"{s}/layer{k + 1}": np.zeros(2) for s, _ in plots.UNIT_STATISTICS for k in range(layers)},
             "epoch": e + 1} for e in range(epochs)]


@pytest.mark.parametrize("plot", [plots.plot_gradient_norms, plots.plot_activation_means])
def test_epoch_axes_tick_at_integers(plot):
    ax = plot(_history()).axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_unit_fractions_all_zero_say_so():
    ax = plots.plot_unit_fractions(_history(), epoch=0).axes[0]
    assert "every fraction is 0" in _texts(ax)
    history = _history()
    history[0]["zero_fraction/layer2"] = np.full(2, 0.4)
    ax = plots.plot_unit_fractions(history, epoch=0).axes[0]
    assert "every fraction is 0" not in _texts(ax)
    assert "dead units (0 in every layer)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_coinciding_gradient_lines_are_told_apart():
    norms = {f"encoders.{k}.kernel": [10.0 ** -k, 2 * 10.0 ** -k] for k in range(3)} | {"head.kernel": [1.0, 1.0]}
    other = {k: [3 * v for v in vs] for k, vs in norms.items()}
    ax = plots.plot_initial_gradients({"small_gaussian": norms, "lsuv": other, "small_gaussian+clip": norms}).axes[0]
    lines = [line for line in ax.lines if not line.get_label().startswith("_")]
    labels = [line.get_label() for line in lines]
    assert labels[2] == "small_gaussian+clip (the same as small_gaussian)"
    assert len({(line.get_marker(), line.get_linestyle()) for line in lines}) == 3


def test_paired_difference_panel_against_the_random_init_counterpart():
    summary = summarize(_synthetic_rows())
    fig = plots.plot_paired_differences(summary, against="counterpart")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["dae − he"]
    for ax, budget in zip(fig.axes, (10, 100)):
        (entry,) = [e for e in summary if e["labels_per_class"] == budget and e["counterpart_diff"] is not None]
        np.testing.assert_allclose(ax.containers[0].lines[0].get_xdata(), [100 * entry["counterpart_diff"]])
