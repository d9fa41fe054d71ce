"""Draw: a digit drawn, uploaded or picked from the test set, read by every model."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.predict import ModelUnavailable
from core.preprocess import ImageError, NotADigitError, decode_image, prepare_digit
from ui.charts import probability_figure
from ui.state import (
    completed_runs,
    get_dataset,
    get_predictor,
    readings_table,
    run_label,
    train_preset_button,
)

SOURCES = ("✏️ Draw", "📁 Upload", "🎲 Test digit")
MAX_MODELS = 12

st.title("✏️ Draw")
runs = completed_runs("mnist")
if runs.empty:
    st.info("No digit model is trained yet. The quick model trains in well under a minute.")
    train_preset_button("Quick CNN", "Train the quick model", key="quick_model_draw")
    st.stop()

labels = {int(row["id"]): run_label(row) for _, row in runs.iterrows()}
chosen = st.selectbox("Model", list(labels), format_func=labels.get, key="draw_model")
source = st.radio("Digit from", SOURCES, horizontal=True, key="source")

if "canvas_version" not in st.session_state:
    st.session_state.canvas_version = 0

left, middle, right = st.columns([3, 2, 3], gap="medium")
image, truth = None, None
with left:
    if source == SOURCES[0]:
        st.caption("Draw one digit with the mouse or a finger.")
        st.write("")  # Room for the canvas toolbar, which floats above the canvas.
        canvas = st_canvas(
            stroke_width=st.session_state.get("stroke_width", 18),
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=280,
            width=280,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"canvas_{st.session_state.canvas_version}",
        )
        cols = st.columns([1, 2])
        if cols[0].button("🧽 Clear", key="clear"):
            st.session_state.canvas_version += 1
            st.rerun()
        cols[1].slider("Stroke width", 4, 40, 18, key="stroke_width")
        image = canvas.image_data if canvas is not None else None
    elif source == SOURCES[1]:
        upload = st.file_uploader(
            "A picture of one digit",
            type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
            key="upload",
        )
        if upload is not None:
            try:
                image = decode_image(upload.getvalue())
            except ImageError as error:
                st.error(str(error))
            else:
                st.image(image, caption="Your picture", width=280)
    else:
        test = get_dataset("mnist")
        if "test_index" not in st.session_state:
            st.session_state.test_index = 0
        if st.button("🎲 Random test digit", key="random_digit"):
            st.session_state.test_index = int(np.random.default_rng().integers(len(test.y_test)))
        index = st.number_input("Test digit number", 0, len(test.y_test) - 1, key="test_index")
        image, truth = test.x_test[int(index)], int(test.y_test[int(index)])
        st.image(np.kron(image, np.ones((10, 10), dtype=np.uint8)), caption=f"Test digit {index}: a {truth}")

prepared = None
if truth is not None:
    prepared = image / 255.0  # Test digits are already prepared the MNIST way.
elif image is not None:
    try:
        prepared = prepare_digit(image)
    except NotADigitError as error:
        middle.info(str(error))
    except ImageError as error:
        middle.error(str(error))

if prepared is None:
    if image is None and source == SOURCES[0]:
        with middle:
            st.info("Draw a digit first: use the mouse or a finger on the black square.")
    st.stop()

with middle:
    st.markdown("**What the model sees** (28x28)")
    st.image(np.kron(prepared, np.ones((8, 8))), clamp=True, width=224)
    st.caption("Cropped, scaled into 20x20 and centred by mass, as MNIST digits were.")

try:
    probabilities = get_predictor(chosen).predict_images(prepared[None])[0]
except ModelUnavailable as error:
    with right:
        st.error(str(error))
    st.stop()

with right:
    digit = int(probabilities.argmax())
    verdict = "" if truth is None else (" ✅" if digit == truth else f" ❌ (it is a {truth})")
    st.markdown(f"### It reads **{digit}** ({probabilities[digit]:.0%}){verdict}")
    st.plotly_chart(probability_figure(probabilities, tuple(str(i) for i in range(10))), key="probabilities")

st.subheader("Every model's reading")
rows = []
for run in runs.head(MAX_MODELS).to_dict("records"):
    try:
        scores = get_predictor(run["id"]).predict_images(prepared[None])[0]
    except ModelUnavailable as error:
        rows.append({"model": run["name"], "run": run["id"], "reads": None, "note": str(error)})
        continue
    rows.append(
        {
            "model": run["name"],
            "run": run["id"],
            "family": run["family"],
            "reads": int(scores.argmax()),
            "confidence": float(scores.max()),
            "test accuracy": run["test_accuracy"],
        }
    )
readings_table(rows, "confidence", key="all_models")
