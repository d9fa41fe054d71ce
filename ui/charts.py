"""Plotly figures: training curves (against epochs or seconds), confusion matrix,
accuracy per class, class balance."""

from __future__ import annotations

import html
from collections.abc import Collection

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TOOLBAR_ROOM = 40  # Pixels above a plot for plotly's toolbar, which a tap shows on a phone.
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


def curves_figure(
    epochs: pd.DataFrame, names: dict[int, str], kept: Collection[int] = (), x: str = "epoch"
) -> go.Figure:
    """Accuracy and loss per epoch; solid lines train, dashed lines validation.

    For each run in `kept` (runs that keep their best epoch), an arrow marks the epoch
    with the best validation accuracy, the one the saved model has; of epochs that tie,
    the later one, as training keeps it. Its note sits on the side away from the
    training line there, so the two do not cross. `x` is the column along the horizontal axis:
    "epoch", or "elapsed" (seconds of training, see `with_elapsed_seconds`).
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"))
    for number, (run_id, rows) in enumerate(epochs.groupby("run_id", sort=False)):
        color = PALETTE[number % len(PALETTE)]
        name = html.escape(names.get(run_id, f"run {run_id}"), quote=False)  # Plotly renders some HTML tags.
        if run_id in kept and rows["val_accuracy"].notna().any():
            best = rows.loc[rows["val_accuracy"][::-1].idxmax()]
            figure.add_annotation(
                x=best[x],
                y=best["val_accuracy"],
                text=f"★ kept: epoch {int(best['epoch'])}",
                showarrow=True,
                arrowhead=2,
                arrowcolor=color,
                ax=0,
                ay=40 if best["accuracy"] >= best["val_accuracy"] else -40,  # Pixels down.
                font={"color": color},
                row=1,
                col=1,
            )
        for column, metric in ((1, "accuracy"), (2, "loss")):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                figure.add_trace(
                    go.Scatter(
                        x=rows[x],
                        y=rows[prefix + metric],
                        mode="lines+markers",
                        name=f"{name} {'validation' if prefix else 'train'}",
                        legendgroup=str(run_id),
                        showlegend=column == 1,
                        line={"color": color, "dash": dash},
                    ),
                    row=1,
                    col=column,
                )
    if x == "epoch":
        figure.update_xaxes(title_text="epoch", dtick=1 if epochs["epoch"].max() <= 20 else None)
    else:
        figure.update_xaxes(title_text="seconds of training")
    figure.update_layout(
        height=430,
        margin={"t": 70, "b": 10, "l": 10, "r": 10},  # Room above the titles for plotly's toolbar.
        # Below everything, whatever the width: at y=-0.22 of the plot a phone's legend lay
        # over the axis titles.
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0},
    )
    return figure


def with_elapsed_seconds(epochs: pd.DataFrame) -> pd.DataFrame:
    """Adds each epoch's end in seconds since its run began training ("elapsed")."""
    return epochs.assign(elapsed=epochs.groupby("run_id")["seconds"].cumsum())


def confusion_figure(matrix: list[list[int]], class_names: tuple[str, ...]) -> go.Figure:
    """A heatmap of true (rows) vs predicted (columns) labels."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(class_names),
            y=list(class_names),
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    figure.update_layout(
        height=420,
        margin={"t": TOOLBAR_ROOM, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "predicted", "type": "category"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return figure


def per_class_figure(accuracies: list[float], class_names: tuple[str, ...]) -> go.Figure:
    """Bar chart of the test accuracy of each class, each bar with its figure: bars from
    0 % that all reach 97-100 % look the same without them."""
    figure = go.Figure(
        go.Bar(
            x=list(class_names),
            y=accuracies,
            texttemplate="%{y:.1%}",
            textposition="inside",
            insidetextanchor="end",
            textangle=-90,
        )
    )
    figure.update_layout(
        height=420,
        margin={"t": TOOLBAR_ROOM, "b": 10},
        yaxis={"tickformat": ".0%"},
        xaxis={"type": "category"},
    )
    return figure


def class_balance_figure(labels: dict[str, np.ndarray], class_names: tuple[str, ...]) -> go.Figure:
    """Grouped bars: how many items of each class each split (e.g. train, test) holds."""
    figure = go.Figure(
        [
            go.Bar(name=split, x=list(class_names), y=np.bincount(split_labels, minlength=len(class_names)))
            for split, split_labels in labels.items()
        ]
    )
    figure.update_layout(barmode="group", height=300, margin={"t": 10, "b": 10}, xaxis={"type": "category"})
    return figure


def row_reading_figure(probabilities: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Lines: each class's probability after each row a recurrent model has read; the
    classes that never reach 10 % are left out, so the story stays readable."""
    probabilities = np.nan_to_num(np.asarray(probabilities, dtype=float))
    rows = np.arange(1, len(probabilities) + 1)
    shown = [i for i in range(probabilities.shape[1]) if probabilities[:, i].max() >= 0.1]
    figure = go.Figure(
        [
            go.Scatter(
                x=rows,
                y=probabilities[:, i],
                mode="lines",
                name=class_names[i],
                line={"color": PALETTE[number % len(PALETTE)], "width": 3},
            )
            for number, i in enumerate(shown)
        ]
    )
    figure.update_layout(
        height=300,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "rows read (top to bottom)", "range": [1, len(rows)]},
        yaxis={"title": "probability", "range": [0, 1.02], "tickformat": ".0%"},
        legend={"title": "digit"},
    )
    return figure


def hidden_state_figure(hidden: np.ndarray) -> go.Figure:
    """Heatmap of a recurrent layer's state (units across) after each row (down)."""
    hidden = np.nan_to_num(np.asarray(hidden, dtype=float))
    figure = go.Figure(
        go.Heatmap(z=hidden, y=np.arange(1, len(hidden) + 1), colorscale="RdBu", zmid=0, showscale=False)
    )
    figure.update_layout(
        height=300,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "unit"},
        yaxis={"title": "after row", "autorange": "reversed"},
    )
    return figure


def digit_map_figure(view, class_names: tuple[str, ...], mark: str = "your digit") -> go.Figure:
    """Scatter: the test digits on the model's 2-D map, by class, and `view.drawing`
    marked with a large star."""
    points, labels = np.asarray(view.points, dtype=float), np.asarray(view.labels)
    colours = PALETTE + ("#BAB0AC", "#EECA3B")
    figure = go.Figure(
        [
            go.Scattergl(
                x=points[labels == label, 0],
                y=points[labels == label, 1],
                mode="markers",
                name=class_names[label],
                marker={"size": 5, "opacity": 0.55, "color": colours[label % len(colours)]},
            )
            for label in range(len(class_names))
        ]
    )
    x, y = (float(value) for value in np.nan_to_num(np.asarray(view.drawing, dtype=float)))
    figure.add_trace(
        go.Scatter(
            x=[x],
            y=[y],
            mode="markers+text",
            name=mark,
            text=[mark],
            textposition="top center",
            marker={"symbol": "star", "size": 22, "color": "black", "line": {"color": "white", "width": 2}},
        )
    )
    share = np.nan_to_num(np.asarray(view.explained, dtype=float))
    figure.update_layout(
        height=420,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": f"direction 1 ({share[0]:.0%} of the spread)", "showticklabels": False},
        yaxis={"title": f"direction 2 ({share[1]:.0%} of the spread)", "showticklabels": False},
        legend={"itemsizing": "constant"},
    )
    return figure


def read_so_far_figure(read_so_far: np.ndarray, words: tuple[str, ...]) -> go.Figure:
    """Line: P(positive) had the review ended after each word."""
    values = np.nan_to_num(np.asarray(read_so_far, dtype=float))
    positions = np.arange(1, len(values) + 1)
    figure = go.Figure(
        go.Scatter(
            x=positions,
            y=values,
            mode="lines+markers",
            customdata=[html.escape(str(word), quote=False) for word in words],
            hovertemplate="after '%{customdata}': %{y:.0%}<extra></extra>",
            line={"color": PALETTE[0], "width": 3},
        )
    )
    figure.add_hline(y=0.5, line_dash="dot", line_color="grey")
    figure.update_layout(
        height=280,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "words read"},
        yaxis={"title": "P(positive)", "range": [0, 1.02], "tickformat": ".0%"},
    )
    return figure


def parallel_coordinates_figure(
    frame: pd.DataFrame, dimensions: dict[str, str], score: str, score_label: str, log: Collection[str] = ()
) -> go.Figure:
    """One line per run across the hyperparameter axes to its score; the colour is the score.

    Args:
        frame: one row per run.
        dimensions: the columns drawn as axes, by their axis labels.
        score: the column of the last axis (and the colour), e.g. test accuracy.
        score_label: its axis label.
        log: the columns drawn on a log scale (their axis reads the values themselves).
    """
    axes = []
    for column, label in dimensions.items():
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        if column in log:
            positive = values.where(values > 0)
            ticks = sorted(positive.dropna().unique())
            ticks = ticks if len(ticks) <= 6 else list(np.geomspace(min(ticks), max(ticks), 5))
            axes.append(
                {
                    "label": f"{label} (log)",
                    "values": np.log10(positive),
                    "tickvals": np.log10(ticks).tolist(),
                    "ticktext": [f"{tick:.2g}" for tick in ticks],
                }
            )
        else:
            axes.append({"label": label, "values": values})
    scores = pd.to_numeric(frame[score], errors="coerce").astype(float)
    axes.append({"label": score_label, "values": scores, "tickformat": ".1%"})
    figure = go.Figure(
        go.Parcoords(
            line={"color": scores.fillna(scores.min()), "colorscale": "Viridis", "showscale": True},
            dimensions=axes,
        )
    )
    figure.update_layout(height=360, margin={"t": 50, "b": 20, "l": 60, "r": 40})
    return figure


def pareto_front(cost: pd.Series, score: pd.Series) -> pd.Series:
    """Returns, for each row, whether no other row has at most its cost and a higher
    score (or a lower cost and at least its score): the best trade-offs."""
    order = sorted(range(len(cost)), key=lambda i: (cost.iloc[i], -score.iloc[i]))
    on_front = pd.Series(False, index=cost.index)
    best = -np.inf
    for position in order:
        if score.iloc[position] > best:
            on_front.iloc[position] = True
            best = score.iloc[position]
    return on_front


def tradeoff_figure(
    frame: pd.DataFrame, cost: str, cost_label: str, score: str, log_x: bool = False
) -> go.Figure:
    """Accuracy against a cost (parameters, seconds), one point per run, the Pareto front
    (no run is both cheaper and better) joined by a line."""
    rows = frame[[cost, score, "id", "name"]].dropna(subset=[cost, score])
    front = rows[pareto_front(rows[cost], rows[score])].sort_values(cost)
    names = [
        html.escape(f"#{run_id} {name}", quote=False)
        for run_id, name in zip(rows["id"], rows["name"], strict=True)
    ]
    figure = go.Figure(
        [
            go.Scatter(
                x=rows[cost], y=rows[score], mode="markers", name="runs", text=names,
                hovertemplate="%{text}<br>%{x:,}: %{y:.2%}<extra></extra>", marker={"color": PALETTE[0]},
            ),
            go.Scatter(
                x=front[cost], y=front[score], mode="lines+markers", name="Pareto front",
                line={"color": PALETTE[1], "shape": "hv"}, marker={"color": PALETTE[1], "size": 10},
                hoverinfo="skip",
            ),
        ]
    )  # fmt: skip
    figure.update_layout(
        height=320,
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
        xaxis={"title": cost_label, "type": "log" if log_x else "linear"},
        yaxis={"title": "test accuracy", "tickformat": ".1%"},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0},
    )
    return figure
