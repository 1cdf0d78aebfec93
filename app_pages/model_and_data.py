"""Model and data: what the loaded model is, how well it does, and what it was trained on."""

from pathlib import Path

import streamlit as st

from ui.charts import plot
from ui.model_sources import show_message, stored_models, train_form, upload_form
from ui.start_here import start_here
from ui.state import (
    get_dataset,
    get_model,
    get_summary,
    known_checkpoints,
    select_checkpoint,
    selection,
)
from unlearn_core.errors import UserError
from unlearn_core.views.figures import per_class_bars, training_curve
from unlearn_core.views.model_summary import image_tiles, low_accuracy_caution, page_of_indices

PER_PAGE = 40


def reset_page() -> None:
    st.session_state["browse_page"] = 1


st.title("Model and data")
start_here()
path, dataset_name = selection()
choices = known_checkpoints() + stored_models()
if path not in choices:
    choices.append(path)
# the picker follows the current model, also when a form below or another page chose it
st.session_state["checkpoint_choice"] = path
st.selectbox(
    "Checkpoint",
    choices,
    key="checkpoint_choice",
    format_func=lambda p: Path(p).name,
    on_change=lambda: select_checkpoint(st.session_state["checkpoint_choice"]),
    help="The model every page works on; its data set is the one it was trained on.",
)
show_message()
with st.expander("Train a model here"):
    train_form()
with st.expander("Use your own checkpoint"):
    upload_form()

try:
    data = get_dataset(dataset_name)
    _, meta = get_model(path, dataset_name)
    summary = get_summary(path, dataset_name, meta["sha256"])
except UserError as err:
    st.error(str(err))
    st.stop()

recipe = summary["recipe"]
st.subheader("What am I looking at")
info = data.describe()
if data.name == "demo":
    about_data = (
        f"a class-balanced subset of **Fashion-MNIST** (Xiao, Rasul and Vollgraf, 2017): "
        f"{info['train']:,} training and {info['test']:,} test grayscale images of "
        f"28×28 pixels, the first 600 and 100 of each of its 10 clothing classes, and "
        f"{info['val']:,} validation images (the next 100 of each class of its test file: "
        f"decisions such as sequential L-FOCI's read them, never the test images)."
    )
else:
    shape = "×".join(str(d) for d in info["shape"])
    about_data = (
        f"`{data.name}`: {info['train']:,} training and {info['test']:,} test images "
        f"of {shape} in {data.num_classes} classes, read from `{info['source']}`."
    )
recorded = "a recorded" if meta.get("recipe_recorded") else "an unrecorded (default)"
st.markdown(
    f"**Data**: {about_data}\n\n**Model**: `{summary['arch']}`, trained by {recorded} recipe: "
    f"{recipe['optimizer'].upper()}, learning rate {recipe['lr']}, batch size "
    f"{recipe['batch_size']}, {recipe['epochs']} epoch{'s' * (recipe['epochs'] != 1)}, "
    f"weight decay {recipe['weight_decay']}, "
    f"momentum {recipe['momentum']}, SD-loss γ {recipe['sd_gamma']}, seed {recipe['seed']}. "
    + (
        "The seed fixes the initial weights and every epoch's data order, so retraining without "
        "a forget set replays the same run minus those samples: the oracle each unlearning "
        "method is compared with."
        if meta.get("recipe_recorded")
        else "These weights came without their recipe, so the one shown is the default: a "
        "retrain by it is a new model trained without the forget set, not a replay of how these "
        "weights were made, and the privacy audit (which trains by the recipe) refuses them."
    )
)
if meta.get("command"):
    st.code(meta["command"], language="bash", wrap_lines=True)

cols = st.columns(4)
cols[0].metric("Architecture", summary["arch"])
cols[1].metric(
    "Parameters", f"{summary['params_total']:,}", help=f"{summary['params_trainable']:,} trainable"
)
cols[2].metric("Test accuracy", f"{summary['test_acc']:.1%}")
cols[3].metric("Train accuracy", f"{summary['train_acc']:.1%}")
if caution := low_accuracy_caution(summary["test_acc"], data.num_classes):
    st.warning(caution)
with st.expander("Layers"):
    st.dataframe(summary["layers"], hide_index=True)

left, right = st.columns(2)
with left:
    if summary["history"]:
        plot(training_curve(summary["history"]))
    else:
        st.info("This checkpoint records no training history.")
with right:
    plot(per_class_bars(summary["class_names"], summary["per_class_test_acc"], summary["test_acc"]))

st.subheader("Training images")
class_col, page_col, count_col = st.columns([2, 1, 2], vertical_alignment="bottom")
class_index = class_col.selectbox(
    "Class",
    [None, *range(data.num_classes)],
    key="browse_class",
    on_change=reset_page,
    format_func=lambda c: "All classes" if c is None else f"{c}: {data.class_names[c]}",
)
page = page_col.number_input("Page", min_value=1, step=1, key="browse_page")
try:
    indices, pages = page_of_indices(data.train_y, class_index, int(page), PER_PAGE)
except UserError as err:
    st.error(str(err))
else:
    count_col.caption(
        f"Page {int(page)} of {pages}, {PER_PAGE} images a page. "
        "Each caption is the image's index in the training split and its label."
    )
    tiles, captions = image_tiles(data, "train", indices, scale=4)
    st.image(tiles, caption=captions)
