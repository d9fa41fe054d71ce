"""Data: look at a dataset before training on it."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import DATASETS
from core.datasets import DatasetUnavailable
from ui.state import DATASET_LABELS, get_dataset

SAMPLES = 30

st.title("📊 Data")
name = st.selectbox("Dataset", DATASETS, format_func=DATASET_LABELS.get, key="data_dataset")
try:
    data = get_dataset(name)
except DatasetUnavailable as error:
    st.error(str(error))
    st.stop()

st.info(f"**{data.describe()}**. Validation is split off the training set when a run starts.")
cols = st.columns(3)
cols[0].metric("Training items", f"{len(data.y_train):,}")
cols[1].metric("Test items", f"{len(data.y_test):,}")
cols[2].metric("Classes", len(data.class_names))

st.subheader("Samples")
start = st.columns(4)[0].number_input(
    "First sample",
    0,
    len(data.y_train) - SAMPLES,
    0,
    step=SAMPLES,
    key="sample_start",
    help="Step through the training set.",
)
indices = range(int(start), int(start) + SAMPLES)
if data.is_text:
    samples = pd.DataFrame(
        {
            "review": [data.x_train[i] for i in indices],
            "label": [data.class_names[data.y_train[i]] for i in indices],
        }
    )
    st.dataframe(samples, hide_index=True, key="samples")
else:
    for row in range(0, SAMPLES, 10):
        for column, index in zip(st.columns(10), indices[row : row + 10], strict=True):
            column.image(
                np.kron(data.x_train[index], np.ones((3, 3), dtype=np.uint8)),
                caption=f"{data.class_names[data.y_train[index]]}",
            )

st.subheader("Class balance")
counts = pd.DataFrame(
    {
        "train": np.bincount(data.y_train, minlength=len(data.class_names)),
        "test": np.bincount(data.y_test, minlength=len(data.class_names)),
    },
    index=list(data.class_names),
)
figure = go.Figure([go.Bar(name=split, x=counts.index, y=counts[split]) for split in counts.columns])
figure.update_layout(barmode="group", height=300, margin={"t": 10, "b": 10}, xaxis={"type": "category"})
st.plotly_chart(figure, key="class_counts")
if not data.is_text:
    st.caption(
        "Each digit is 28x28 pixels, 0 = background and 255 = ink, scaled to 0-1 before training. "
        "MNIST digits were fitted into a 20x20 box and centred by their centre of mass: "
        "the Draw page prepares your drawing the same way."
    )
