"""Data: look at a dataset before training on it."""

import pandas as pd
import streamlit as st

from core.config import DATASETS, dataset_facts
from core.datasets import Dataset, DatasetUnavailable
from ui.charts import class_balance_figure
from ui.format import dataset_label
from ui.presenter import presenter_mode, readable
from ui.resources import get_dataset
from ui.widgets import digit_gallery

SAMPLES = 30


def samples(data: Dataset) -> None:
    """A page of training items with their labels, stepped through by number."""
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
    labels = [data.class_names[data.y_train[i]] for i in indices]
    if data.is_text:
        reviews = pd.DataFrame({"review": [data.x_train[i] for i in indices], "label": labels})
        st.dataframe(reviews, hide_index=True, key="samples")
    else:
        digit_gallery([data.x_train[i] for i in indices], labels, factor=3)


presenter_mode()
st.title("📊 Data")
name = st.selectbox("Dataset", DATASETS, format_func=dataset_label, key="data_dataset")
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
samples(data)

st.subheader("Class balance")
figure = class_balance_figure({"train": data.y_train, "test": data.y_test}, data.class_names)
st.plotly_chart(readable(figure), key="class_counts")
if not data.is_text:
    item = dataset_facts(name).item
    caption = f"Each {item} is 28x28 grey pixels from 0 (background) to 255, scaled to 0-1 for training."
    if name == "mnist":
        caption += (
            " MNIST digits were fitted into a 20x20 box and centred by their centre of mass: "
            "the Draw page prepares your drawing the same way."
        )
    st.caption(caption)
