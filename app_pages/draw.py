"""Draw: a digit drawn, uploaded or picked from the test set, read by every model."""

import numpy as np
import streamlit as st

from core.handwriting import model_view
from core.preprocess import ImageError, NotADigitError, decode_image, prepare_digit
from core.store import ACTIVE
from ui.audience import audience_read_digits, within_limit
from ui.digit_canvas import digit_canvas
from ui.format import as_text, distinct_names, run_label
from ui.handwriting import save_buttons
from ui.images import enlarge, sharp_image_html
from ui.inside import digit_views, explain_target
from ui.presenter import canvas_size, presenter_mode, presenting
from ui.probability_bars import probability_bars
from ui.resources import (
    completed_runs,
    explain_digit,
    get_dataset,
    get_store,
    keep_workers_alive,
    read_digits,
    warm_reader,
)
from ui.widgets import MAX_MODELS, demo_button, every_models_reading, trained_models

SOURCES = ("✏️ Draw", "📁 Upload", "🎲 Test digit")
AUDIENCE_SOURCES = (SOURCES[0], SOURCES[2])  # The audience uploads no files.
DIGITS = tuple(str(i) for i in range(10))


def drawn_digit() -> np.ndarray | None:
    """The canvas, its Clear button and stroke width; returns the drawing (RGBA) or None."""
    if "canvas_version" not in st.session_state:
        st.session_state.canvas_version = 0
    if not presenting():
        st.caption("Draw one digit with the mouse or a finger.")
    # Above the canvas, so that on a phone the verdict comes right under it; a row that
    # stays a row on a phone (columns would stack).
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    if row.button("🧽 Clear", key="clear"):
        st.session_state.canvas_version += 1
        st.rerun(scope="fragment")
    stroke_width = row.slider("Stroke width", 4, 40, 18, key="stroke_width")
    size = canvas_size()
    return digit_canvas(
        size,
        round(stroke_width * size / 280),  # The same stroke relative to the canvas.
        key=f"canvas_{st.session_state.canvas_version}_{size}",
    )


def uploaded_digit() -> np.ndarray | None:
    """An uploaded picture, decoded, or None."""
    upload = st.file_uploader(
        "A picture of one digit",
        type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
        key="upload",
    )
    if upload is None:
        return None
    try:
        image = decode_image(upload.getvalue())
    except ImageError as error:
        st.error(str(error))
        return None
    st.image(image, caption="Your picture", width=280)
    return image


def picked_test_digit() -> tuple[np.ndarray | None, int | None]:
    """A digit of the MNIST test set, by number or at random; returns it and its label,
    or (None, None), with the reason shown, for a number out of range."""
    test = get_dataset("mnist")
    if "test_index" not in st.session_state:
        st.session_state.test_index = 0
    if st.button("🎲 Random test digit", key="random_digit"):
        st.session_state.test_index = int(np.random.default_rng().integers(len(test.y_test)))
    # No bounds in the field itself: a browser keeps showing an out-of-range number it
    # refused while the page goes on with another, so the page checks the range instead.
    index = st.number_input("Test digit number", step=1, key="test_index")
    if not 0 <= index < len(test.y_test):
        st.warning(
            f"There are {len(test.y_test):,} test digits: choose a number from 0 to {len(test.y_test) - 1:,}."
        )
        return None, None
    image, truth = test.x_test[int(index)], int(test.y_test[int(index)])
    st.image(enlarge(image, 10), caption=f"Test digit {index}: a {truth}")
    return image, truth


def prepared_digit(image: np.ndarray | None, truth: int | None, uploaded: bool = False) -> np.ndarray | None:
    """The 28x28 the model reads (0-1), shown; None, with the reason, if there is none."""
    if truth is not None:
        prepared = image / 255.0  # Test digits are already prepared the MNIST way.
    elif image is None:
        return None
    else:
        try:
            prepared = prepare_digit(image)
        except NotADigitError as error:
            blank = uploaded and "empty" in str(error)
            st.info("That picture is blank: there is no digit in it to read." if blank else str(error))
            return None
        except ImageError as error:
            st.error(str(error))
            return None
    # One element, its picture inline: cheaper for the browser at every pen-up than three.
    picture = sharp_image_html(model_view(prepared), 224, "The 28x28 digit the model reads")
    st.html(
        "<p><strong>What the model sees</strong> (28x28)</p>"
        f'{picture}<p class="model-view-caption">Cropped, scaled into 20x20 and centred by mass,'
        " as MNIST digits were.</p>"
    )
    return prepared


def show_reading(probabilities: np.ndarray | str, truth: int | None, chart_area=None) -> None:
    """The chosen model's reading: the digit, whether it is right, every probability
    (drawn into `chart_area`, a container, when given)."""
    if isinstance(probabilities, str):
        st.error(probabilities)
        return
    digit = int(probabilities.argmax())
    verdict = "" if truth is None else (" ✅" if digit == truth else f" ❌ (it is a {truth})")
    st.markdown(f"### It reads **{digit}** ({probabilities[digit]:.0%}){verdict}")
    (chart_area or st).html(probability_bars(probabilities, DIGITS))


def disagreement(runs, answers: dict, chosen: int) -> set[int]:
    """Says which model reads what when the models disagree; returns the runs whose
    reading differs from the chosen model's (none when they all agree)."""
    names = {run_id: as_text(name) for run_id, name in distinct_names(runs).items()}
    readings = {
        run_id: int(answer.argmax())
        for run_id, answer in answers.items()
        if not isinstance(answer, str) and run_id in names
    }
    if len(set(readings.values())) < 2:
        return set()
    said = "; ".join(f"{names[run_id]} reads {digit}" for run_id, digit in readings.items())
    st.warning(f"**The models disagree**: {said}.", icon="🤔")
    verdict = readings.get(chosen)
    return {run_id for run_id, digit in readings.items() if digit != verdict}


def demo_runs() -> list[int]:
    """The runs of the 'CNN against MLP' demo named in the address (?demo=4,5).

    While one of them still trains, shows their progress and stops the page; it reruns
    by itself when they are done.

    Returns:
        The demo runs that completed, the CNN first.
    """
    parts = st.query_params.get("demo", "").split(",")
    run_ids = [int(part) for part in parts if part.isdecimal() and len(part) < 12][:4]
    if not run_ids:
        return []
    store = get_store()
    runs = {run_id: store.get_run(run_id) for run_id in run_ids}
    if any(run is not None and run["status"] in ACTIVE for run in runs.values()):
        st.fragment(demo_progress, run_every=1.0)(run_ids)
        st.stop()
    for run_id, run in runs.items():
        if run is None or run["status"] != "completed":
            st.warning(f"Run {run_id} of the demo did not complete: see it on the Train page.")
    return [run_id for run_id, run in runs.items() if run is not None and run["status"] == "completed"]


def demo_progress(run_ids: list[int]) -> None:
    """How far the demo's runs have trained (polled every second); reruns the page when
    they are done."""
    keep_workers_alive()
    store = get_store()
    st.subheader("🆚 CNN against MLP: training both")
    still_training = False
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            continue
        still_training |= run["status"] in ACTIVE
        epochs = run["config"].epochs if run["config"] else 1
        done = (run["epoch"] + run["batch"] / max(run["batches"], 1)) / epochs
        if run["status"] == "queued":
            text = f"{as_text(run['name'])}: waiting for its turn"
        elif run["status"] == "running":
            text = f"{as_text(run['name'])}: epoch {min(run['epoch'] + 1, epochs)} of {epochs}"
        else:
            text, done = f"{as_text(run['name'])}: {run['status']}", 1.0
        st.progress(min(done, 1.0), text=text)
    st.caption("Draw opens with both models as soon as they are trained (about a minute).")
    if not still_training:
        st.rerun()


def open_requested_digit(run_ids: set[int]) -> None:
    """Opens the model and test digit named in the address once (?run=7&test=1234, as
    Compare's misclassified digits link here), with the inside views on."""
    run, test = st.query_params.get("run", ""), st.query_params.get("test", "")
    if not (run.isdecimal() and test.isdecimal() and len(run) < 12 and len(test) < 7):
        return
    if int(run) in run_ids:
        st.session_state.draw_model = int(run)
    st.session_state.source = SOURCES[2]
    st.session_state.test_index = int(test)
    st.session_state.inside = True
    del st.query_params["run"]
    del st.query_params["test"]


def inside_the_model(run_id: int, prepared: np.ndarray, reading: np.ndarray | str, audience: bool) -> None:
    """The chosen model's "Inside the model" views of this digit, when asked for."""
    if isinstance(reading, str) or not st.toggle(
        "🔎 Inside the model",
        key="inside",
        help="Where the model looked, what its layers saw, and where this digit lies among the others.",
    ):
        return
    target = explain_target(int(reading.argmax()))
    explained = explain_digit(run_id, prepared, target, allow=within_limit if audience else None)
    if explained is not None:
        digit_views(explained, prepared)


def describe_digit(scores: np.ndarray, run: dict) -> dict:
    """A digit model's reading of a prepared digit: the digit and its confidence."""
    return {"family": run["family"], "reads": int(scores.argmax()), "confidence": float(scores.max())}


@st.fragment
def reading_view(runs, asked: list[int], chosen: int, source: str, audience: bool) -> None:
    """The digit and every model's reading of it. A fragment: a drawing reruns this part
    of the page only, not the model list and settings above it."""
    # Two columns, the verdict at the top of the second: on a phone they stack, and the
    # verdict comes right under the canvas.
    left, right = st.columns(2, gap="medium")
    truth = None
    with left:
        if source == SOURCES[0]:
            image = drawn_digit()
        elif source == SOURCES[1] and not audience:
            image = uploaded_digit()
        else:
            image, truth = picked_test_digit()
    verdict_area, readings_area, chart_area = right.container(), right.container(), right.container()
    with right:
        prepared = prepared_digit(image, truth, uploaded=source == SOURCES[1])
        if prepared is None:
            if image is None and source == SOURCES[0]:
                st.info("Draw a digit first: use the mouse or a finger on the black square.")
            return
    answers = audience_read_digits(asked, prepared) if audience else read_digits(asked, prepared)
    if answers is None:  # Over the audience's limit: the page said when to try again.
        return
    with verdict_area:
        show_reading(answers[chosen], truth, chart_area)
        if not audience and truth is None:  # Drawn or uploaded: the user may save it, labelled.
            save_buttons(prepared, image)
        different = disagreement(runs, answers, chosen)
    with readings_area:
        st.markdown("**Every model's reading**")
        every_models_reading(
            runs,
            answers,
            describe_digit,
            {"reads": None},
            "confidence",
            highlight=different,
        )
    inside_the_model(chosen, prepared, answers[chosen], audience)


def main(audience: bool = False) -> None:
    """The Draw page; for the audience (audience.py) without training or upload, and
    with readings limited per session."""
    presenter_mode(toggle=not audience)
    st.title("✏️ Draw")
    warm_reader([])  # The reader imports TensorFlow while the page is looked at.
    demo = [] if audience else demo_runs()
    if audience:
        runs = completed_runs("mnist")
        if runs.empty:
            st.info("No digit model is trained yet: as soon as the lab has one, it reads your digits here.")
            st.stop()
    else:
        runs = trained_models(
            "mnist",
            "No digit model is trained yet. The quick model trains in well under a minute.",
            "Quick CNN",
            "Train the quick model",
            key="quick_model_draw",
            also=lambda: demo_button(key="demo_draw"),
        )
    labels = {int(row["id"]): run_label(row) for _, row in runs.iterrows()}
    if demo and st.session_state.get("demo_opened") != demo:
        st.session_state.demo_opened = demo  # Open on the demo's CNN once; then the user chooses.
        st.session_state.draw_model = demo[0]
    open_requested_digit(set(labels))
    top = st.columns(2)
    chosen = top[0].selectbox("Model", list(labels), format_func=labels.get, key="draw_model")
    asked = list(dict.fromkeys([chosen, *demo, *(int(i) for i in runs["id"].head(MAX_MODELS))]))
    warm_reader(asked)  # While the user draws, the reader loads these models.
    source = top[1].radio(
        "Digit from", AUDIENCE_SOURCES if audience else SOURCES, horizontal=True, key="source"
    )

    reading_view(runs, asked, chosen, source, audience)


if __name__ == "__main__":  # Streamlit runs a page as __main__; importing it runs nothing.
    main()
