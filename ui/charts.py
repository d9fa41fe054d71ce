"""Plotly figures: training curves, confusion matrix, accuracy per class, class balance,
probability bars."""

from __future__ import annotations

import html
from collections.abc import Collection

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


def curves_figure(epochs: pd.DataFrame, names: dict[int, str], kept: Collection[int] = ()) -> go.Figure:
    """Accuracy and loss per epoch; solid lines train, dashed lines validation.

    For each run in `kept` (runs that keep their best epoch), an arrow marks the epoch
    with the best validation accuracy, the one the saved model has; of epochs that tie,
    the later one, as training keeps it.
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"))
    for number, (run_id, rows) in enumerate(epochs.groupby("run_id", sort=False)):
        color = PALETTE[number % len(PALETTE)]
        name = html.escape(names.get(run_id, f"run {run_id}"))  # Plotly renders some HTML tags.
        if run_id in kept and rows["val_accuracy"].notna().any():
            best = rows.loc[rows["val_accuracy"][::-1].idxmax()]
            figure.add_annotation(
                x=best["epoch"],
                y=best["val_accuracy"],
                text=f"★ kept: epoch {int(best['epoch'])}",
                showarrow=True,
                arrowhead=2,
                arrowcolor=color,
                ax=0,
                ay=40,
                font={"color": color},
                row=1,
                col=1,
            )
        for column, metric in ((1, "accuracy"), (2, "loss")):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                figure.add_trace(
                    go.Scatter(
                        x=rows["epoch"],
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
    figure.update_xaxes(title_text="epoch", dtick=1 if epochs["epoch"].max() <= 20 else None)
    figure.update_layout(
        height=400,
        margin={"t": 40, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22},
    )
    return figure


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
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "predicted", "type": "category"},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"},
    )
    return figure


def probability_figure(probabilities, class_names: tuple[str, ...]) -> go.Figure:
    """Bar chart of class probabilities; the top class stands out."""
    best = int(max(range(len(probabilities)), key=lambda i: probabilities[i]))
    colors = [PALETTE[1] if i == best else PALETTE[0] for i in range(len(probabilities))]
    figure = go.Figure(
        go.Bar(
            x=list(class_names),
            y=[float(p) for p in probabilities],
            marker_color=colors,
            text=[f"{p:.0%}" for p in probabilities],
            textposition="outside",
            textangle=0,
        )
    )
    figure.update_layout(
        height=260,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        yaxis={"range": [0, 1.15], "tickformat": ".0%"},
        xaxis={"type": "category"},
    )
    return figure


def per_class_figure(accuracies: list[float], class_names: tuple[str, ...]) -> go.Figure:
    """Bar chart of the test accuracy of each class."""
    figure = go.Figure(go.Bar(x=list(class_names), y=accuracies))
    figure.update_layout(
        height=420, margin={"t": 10, "b": 10}, yaxis={"tickformat": ".0%"}, xaxis={"type": "category"}
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
