"""Forget request: which training data the model must forget, whole classes or single samples."""

import streamlit as st

from ui.runs import current_request, origin_form, set_forget
from ui.state import choice, get_dataset, selection
from unlearn_core.errors import UserError
from unlearn_core.request import ForgetRequest, class_label, parse_indices, random_indices
from unlearn_core.views.model_summary import image_tiles

SHOWN = 40  # images shown at most; a class request holds hundreds


st.title("Forget request")
st.subheader("What am I looking at")
st.markdown(
    "Say what the model must forget, as if its owner had received a deletion request. **Whole "
    "classes** is the setting of UNSIR (Tarun et al., 2023, *Fast Yet Effective Machine "
    "Unlearning*); **single samples** is that of L-FOCI (Mehta et al., CVPR 2022, *Deep "
    "Unlearning via Randomized Conditionally Independent Hessians*) and of single-gradient "
    "unlearning (Thudi et al., 2022, *Unrolling SGD*). The forget set is what the request names; "
    "the retain set is the rest of the training split, the data a retrained model would learn "
    "from. The request holds for every later page until you change it."
)

_, dataset_name = selection()
try:
    data = get_dataset(dataset_name)
except UserError as err:
    st.error(str(err))
    st.stop()


def class_choice(c: int | None) -> str:
    return "All classes" if c is None else class_label(c, data.class_names)


previous = st.session_state.get("forget") or {}  # the forms start from the current request
kind = choice("Forget", {"classes": "Whole classes", "samples": "Training samples"}, "forget_kind")
submitted = False
if kind == "classes":
    with st.form("forget_classes_form"):
        classes = st.multiselect(
            "Classes to forget",
            range(data.num_classes),
            default=previous.get("classes") or [],
            format_func=class_choice,
            key="forget_classes",
            help="Every training image of these classes goes into the forget set.",
        )
        submitted = st.form_submit_button("Set the forget request", key="forget_classes_submit")
else:
    ways = {"typed": "Typing their indices", "random": "Drawing n at random"}
    how = choice("Choose samples by", ways, "forget_how")
    with st.form("forget_samples_form"):
        if how == "typed":
            text = st.text_input(
                "Training indices",
                value=", ".join(str(i) for i in previous.get("indices") or []),
                placeholder="2, 17, 305",
                key="forget_indices_text",
                help="Positions in the training split, separated by commas; the Model and data "
                "page shows each image's index in its caption.",
            )
        else:
            left, mid, right = st.columns(3)
            pool = left.selectbox(
                "From class",
                [None, *range(data.num_classes)],
                format_func=class_choice,
                key="forget_pool",
            )
            count = mid.number_input("How many", min_value=1, value=10, step=1, key="forget_n")
            seed = right.number_input("Seed", min_value=0, value=0, step=1, key="forget_seed")
        submitted = st.form_submit_button("Set the forget request", key="forget_samples_submit")

if submitted:
    try:
        if kind == "classes":
            new = ForgetRequest.for_classes(data, classes)
        elif how == "typed":
            new = ForgetRequest.for_indices(data, parse_indices(text))
        else:
            new = ForgetRequest.for_indices(
                data, random_indices(data.train_y, pool, int(count), int(seed))
            )
    except UserError as err:
        st.error(f"{err} The previous request is kept.")
    else:
        set_forget(new)

st.subheader("Current request")
try:
    request = current_request(data)
except UserError as err:
    st.error(f"The stored request does not fit this data set: {err}")
    st.stop()
if request is None:
    st.info("No forget request yet: choose classes or samples above and press the button.")
    st.stop()

names = ", ".join(class_label(c, data.class_names) for c in request.classes)
cols = st.columns(3)
cols[0].metric("Request by", request.kind)
cols[1].metric("Forget set", f"{request.count:,}", help="Training images to forget")
cols[2].metric("Retain set", f"{request.retain_indices.numel():,}", help="Training images kept")
if names:
    st.markdown(f"Classes: **{names}**")
origin_form(request)
tiles, captions = image_tiles(data, "train", request.forget_indices[:SHOWN], scale=3)
st.image(tiles, caption=captions)
if request.count > SHOWN:
    st.caption(f"The first {SHOWN} of the {request.count:,} images to forget.")
