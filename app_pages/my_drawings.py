"""My drawings: the digits the user saved from Draw, per digit; how every model reads
them; teaching a model this handwriting; export and import as a zip."""

import pandas as pd
import streamlit as st

from core.handwriting import ImportRefused, export_zip, not_yet_saved, read_zip
from core.personal_scores import PersonalScore
from core.store import RunStore, StoreError
from ui.format import as_text, run_label
from ui.handwriting import DIGITS, personal_scores, teach_button
from ui.images import enlarge
from ui.presenter import presenter_mode
from ui.resources import completed_runs, get_store
from ui.widgets import digit_gallery

PER_ROW = 8
MOST_SHOWN = 64  # Drawings of one digit shown at once; the rest are counted.


def gallery(store: RunStore, drawings: list[dict]) -> None:
    """The drawings of one digit at a time, each with its label to change and a delete."""
    counts = {digit: sum(drawing["label"] == digit for drawing in drawings) for digit in DIGITS}
    if st.session_state.get("gallery_digit") is None:
        st.session_state.gallery_digit = int(drawings[-1]["label"])  # The digit saved last.
    digit = st.pills("Digit", DIGITS, format_func=lambda d: f"{d} · {counts[d]}", key="gallery_digit")
    shown = [drawing for drawing in drawings if drawing["label"] == digit][::-1]
    if not shown:
        st.caption("No drawing of this digit yet.")
    for start in range(0, min(len(shown), MOST_SHOWN), PER_ROW):
        for column, drawing in zip(st.columns(PER_ROW), shown[start : start + PER_ROW], strict=False):
            drawing_cell(column, store, drawing)
    if len(shown) > MOST_SHOWN:
        st.caption(f"The newest {MOST_SHOWN} of {len(shown)} are shown.")


def drawing_cell(column, store: RunStore, drawing: dict) -> None:
    """One drawing: the 28x28 the model saw, its label (changeable) and delete."""
    drawing_id = drawing["id"]
    label_key = f"relabel_{drawing_id}"
    column.image(enlarge(drawing["image"], 3), caption=f"#{drawing_id}")
    column.selectbox(
        "Label",
        DIGITS,
        index=int(drawing["label"]),
        key=label_key,
        label_visibility="collapsed",
        on_change=lambda: change(store.relabel_drawing, drawing_id, st.session_state[label_key]),
    )
    delete = (store.delete_drawing, drawing_id)
    column.button("🗑️", key=f"delete_drawing_{drawing_id}", on_click=change, args=delete)


def change(action, *args) -> None:
    """Runs a store change from a widget's callback; a store that refuses it (read-only,
    full) leaves its message for the page to show, as a callback cannot show one."""
    try:
        action(*args)
    except StoreError as error:
        st.session_state.drawings_error = str(error)


def model_scores(drawings: list[dict]) -> None:
    """Every digit model's accuracy on the drawings, per digit too, and one model's mistakes."""
    runs = completed_runs("mnist")
    if runs.empty:
        st.info("No digit model is trained yet: train one to see how it reads your drawings.")
        return
    scores = personal_scores([int(run_id) for run_id in runs["id"]])
    rows = []
    for run in runs.to_dict("records"):
        answer = scores.get(int(run["id"]))
        row = {"model": run_label(run), "my drawings": None, "test": run["test_accuracy"]}
        if isinstance(answer, PersonalScore):
            row["my drawings"] = answer.accuracy
            row |= {f"{d}s": right / drawn for d, (right, drawn) in answer.per_digit.items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    percent = [column for column in table.columns if column != "model"]
    shown = table.style.format("{:.0%}", subset=percent, na_rep="–")
    st.dataframe(shown, hide_index=True, key="personal_scores")
    st.caption("Accuracy on your drawings, on the test set, then on each digit you drew (your 1s, 2s…).")
    labels = {int(run["id"]): run_label(run) for run in runs.to_dict("records")}
    chosen = st.selectbox("Mistakes of", list(labels), format_func=labels.get, key="mistakes_run")
    mistakes(scores.get(chosen), drawings)


def mistakes(answer: PersonalScore | str | None, drawings: list[dict]) -> None:
    """The drawings a model misreads, captioned drawn → read."""
    if isinstance(answer, str):
        st.warning(answer)
        return
    if answer is None or not answer.wrong:
        st.success("It reads every one of your drawings right.")
        return
    by_id = {drawing["id"]: drawing for drawing in drawings}
    wrong = [(by_id[drawing_id], read) for drawing_id, read in answer.wrong][:MOST_SHOWN]
    digit_gallery(
        [drawing["image"] for drawing, _ in wrong],
        [f"{drawing['label']} → {read}" for drawing, read in wrong],
        factor=2,
    )
    st.caption("Each caption reads drawn → read.")


def export_and_import(store: RunStore, drawings: list[dict]) -> None:
    """The zip of every drawing to download, and a zip of drawings to add."""
    if drawings:
        st.download_button(
            "⬇️ Export them all (zip)",
            lambda: export_zip(store.drawings()),  # Made when clicked.
            "my-drawings.zip",
            "application/zip",
            key="export_drawings",
            on_click="ignore",
        )
    upload = st.file_uploader("Import drawings (a zip exported here)", type=["zip"], key="import_drawings")
    if upload is None or st.session_state.get("imported") == upload.file_id:
        return
    found = zip_contents(upload)
    if isinstance(found, str):
        st.error(f"Nothing was imported. {as_text(found)}")  # It names files of the zip.
        return
    new = not_yet_saved(found, store.drawings())
    if not new:
        st.info("Every drawing in this zip is already in your drawings: there is nothing to import.")
        return
    already = (
        f"; {len(found) - len(new)} of them are already here and are left out"
        if len(new) < len(found)
        else ""
    )
    st.caption(f"The zip holds {len(found)} drawing{'s' if len(found) > 1 else ''}, all readable{already}.")
    if st.button(f"📥 Import {len(new)}", key="import_confirm", type="primary"):
        try:
            store.add_drawings(new)
        except StoreError as error:
            st.error(as_text(error))
            return
        st.session_state.imported = upload.file_id
        st.toast(f"{len(new)} drawing{'s' if len(new) > 1 else ''} imported", icon="📥")
        st.rerun()


def zip_contents(upload) -> list | str:
    """The drawings of an uploaded zip, or why it is refused; read once per upload (the
    page reruns with the file still there until it is imported)."""
    read = st.session_state.get("import_read")
    if read is None or read[0] != upload.file_id:
        try:
            read = (upload.file_id, read_zip(upload.getvalue()))
        except ImportRefused as error:
            read = (upload.file_id, str(error))
        st.session_state.import_read = read
    return read[1]


def main() -> None:
    """The My drawings page (the lab only: the audience cannot see, change or export them)."""
    presenter_mode()
    st.title("📒 My drawings")
    store = get_store()
    if "drawings_error" in st.session_state:
        st.error(st.session_state.pop("drawings_error"))
    drawings = store.drawings()
    if not drawings:
        st.info(
            "No drawings yet. On the Draw page, draw a digit, then click the digit it is: "
            "it is saved here, and every model is scored on your drawings."
        )
        st.page_link("app_pages/draw.py", label="Go to Draw", icon="✏️")
    else:
        count = f"{len(drawings)} drawing" + ("s" if len(drawings) > 1 else "")
        st.caption(f"{count}: the 28x28 each model saw, with the digit you said it is.")
        gallery(store, drawings)
        st.subheader("How each model reads them")
        model_scores(drawings)
        st.subheader("Teach it my handwriting")
        teach_button(store)
    st.subheader("Export and import")
    export_and_import(store, drawings)


if __name__ == "__main__":  # Streamlit runs a page as __main__; importing it runs nothing.
    main()
