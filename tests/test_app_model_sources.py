"""The two model sources of "Model and data": training a model in the page (AppTest), and the
save-and-load of uploaded weights (called directly: AppTest cannot upload files)."""

from __future__ import annotations

import hashlib
import math
import time

import pytest
import torch
from conftest import ROOT
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint, save_checkpoint
from unlearn_core.cli import model_sources
from unlearn_core.cli.model_sources import estimate_training, import_weights
from unlearn_core.data import load_dataset
from unlearn_core.errors import UserError
from unlearn_core.files import safe_stem
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.training import Recipe, TrainedModel, initial_model, train

PAGE = str(ROOT / "app_pages" / "model_and_data.py")


class OpensAFile:
    """Unpickling this calls open(marker, "w"): code a checkpoint must never get to run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def logreg_state(digits) -> dict[str, torch.Tensor]:
    return initial_model("logreg", digits, 3).state_dict()


def test_training_a_model_in_the_page_selects_it(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    before = at.session_state["checkpoint_path"]
    at.selectbox(key="train_dataset").set_value("digits")
    at.selectbox(key="train_arch").set_value("logreg")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_seed").set_value(7)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception and not at.error
    path = at.session_state["checkpoint_path"]
    assert path != before and path.startswith(str(tmp_path / "store" / "models"))
    assert at.session_state["dataset_name"] == "digits"
    trained, meta = load_checkpoint(path, load_dataset("digits"))
    assert trained.arch == "logreg" and trained.recipe.epochs == 1 and trained.recipe.seed == 7
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Architecture"] == "logreg"
    assert metrics["Test accuracy"] == f"{meta['history'][-1]['test_acc']:.1%}"
    assert "--arch logreg" in meta["command"] and "--epochs 1" in meta["command"]
    assert any("selected it" in s.value for s in at.success)
    assert at.selectbox(key="checkpoint_choice").value == path


def test_training_for_ever_is_refused_with_an_estimate_and_bad_settings_say_why(
    tmp_path, monkeypatch
):
    """10,000 epochs: refused before training, with the time it would take here; 100,000 or -1
    epochs: one line naming the range (no red field that leaves Train doing nothing)."""
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    before = at.session_state["checkpoint_path"]
    train_button = next(b for b in at.button if b.label == "Train")
    at.number_input(key="train_epochs").set_value(10_000)
    train_button.click().run()
    [error] = at.error
    assert "would take about" in error.value and "ms per step" in error.value
    assert "at most 60 min" in error.value
    for epochs, says in (
        (100_000, "epochs must lie in [1, 10000], not 100000"),
        (-1, "epochs >= 1"),
    ):
        at.number_input(key="train_epochs").set_value(epochs)
        next(b for b in at.button if b.label == "Train").click().run()
        [error] = at.error
        assert says in error.value
    assert at.session_state["checkpoint_path"] == before
    assert not (tmp_path / "store" / "models").exists()


def test_the_training_estimate_is_near_the_real_time(digits):
    """The estimate against the training it estimates, both timed here (a factor of 5 either
    way: the estimate times a few steps on one batch, and this machine may be busy)."""
    recipe = Recipe(lr=0.05, batch_size=64, epochs=2, seed=0, probe_every=0)
    estimate, step = estimate_training(digits, "smallcnn", recipe)
    start = time.perf_counter()
    train("smallcnn", digits, recipe, probes=False)
    real = time.perf_counter() - start
    assert step > 0 and real / 5 < estimate < real * 5


def test_loading_without_a_file_is_one_error_and_keeps_the_model():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    before = at.session_state["checkpoint_path"]
    next(b for b in at.button if b.label == "Load these weights").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "Choose a weights file" in at.error[0].value
    assert at.session_state["checkpoint_path"] == before
    assert at.metric  # the rest of the page is still there


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path, digits, logreg_state):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pt"
    torch.save({**logreg_state, "extra": OpensAFile(marker)}, hostile)
    folder = tmp_path / "models"
    with pytest.raises(UserError, match="pickled objects"):
        import_weights("hostile.pt", hostile.read_bytes(), digits, "logreg", folder)
    assert not marker.exists()
    assert list(folder.iterdir()) == []  # no checkpoint and no scratch left behind
    torch.load(hostile, weights_only=False)  # the control: unpickled, it does run
    assert marker.exists()


def test_foreign_safetensors_are_stored_with_their_architecture(tmp_path, digits, logreg_state):
    upload = tmp_path / "mine.safetensors"
    save_file(logreg_state, upload)
    path = import_weights("../../mine.safetensors", upload.read_bytes(), digits, "logreg", tmp_path)
    assert path.parent == tmp_path and path.suffix == ".safetensors"
    assert checkpoint_dataset(path) == "digits"
    trained, meta = load_checkpoint(path, digits)  # no arch needed any more
    assert trained.arch == "logreg" and meta["recipe_recorded"] is False
    for key, value in logreg_state.items():
        assert torch.equal(trained.model.state_dict()[key], value)
    assert meta["source"] == "mine.safetensors"


def test_a_state_dict_pt_is_accepted(tmp_path, digits, logreg_state):
    upload = tmp_path / "weights.pt"
    torch.save({"state_dict": logreg_state}, upload)
    path = import_weights("weights.pt", upload.read_bytes(), digits, "logreg", tmp_path / "m")
    trained, _ = load_checkpoint(path, digits)
    assert torch.equal(trained.model.state_dict()["1.weight"], logreg_state["1.weight"])


def test_our_own_checkpoint_is_kept_byte_for_byte(tmp_path, digits):
    model = initial_model("logreg", digits, 0)
    own = tmp_path / "own.safetensors"
    save_checkpoint(TrainedModel("logreg", "digits", model, Recipe(epochs=4), None), own)
    path = import_weights("own.safetensors", own.read_bytes(), digits, "mlp", tmp_path / "m")
    assert path.read_bytes() == own.read_bytes()
    assert load_checkpoint(path, digits)[0].recipe.epochs == 4


@pytest.mark.parametrize(
    "case, arch, match",
    [
        ("wrong architecture", "mlp", "does not fit this architecture.*choose the architecture"),
        ("nan weights", "logreg", "NaN or infinite"),
        ("not weights", "logreg", "not a valid safetensors"),
        ("other type", "logreg", "only .safetensors"),
        ("too large", "logreg", "larger than"),
    ],
)
def test_bad_uploads_are_one_error_and_leave_nothing(
    tmp_path, digits, logreg_state, monkeypatch, case, arch, match
):
    upload, name = tmp_path / "w.safetensors", "w.safetensors"
    if case == "nan weights":
        logreg_state["1.weight"][0, 0] = math.nan
    save_file(logreg_state, upload)
    payload = upload.read_bytes()
    if case == "not weights":
        payload = b"\x00" * 64
    elif case == "other type":
        name = "w.pkl"
    elif case == "too large":
        monkeypatch.setattr(model_sources, "MAX_UPLOAD_MB", len(payload) / 2**21)
    folder = tmp_path / "models"
    with pytest.raises(UserError, match=match):
        import_weights(name, payload, digits, arch, folder)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_weights_without_a_recipe_are_not_said_to_replay(
    tmp_path, digits, logreg_state, monkeypatch
):
    upload = tmp_path / "mine.safetensors"
    save_file(logreg_state, upload)
    path = import_weights("mine.safetensors", upload.read_bytes(), digits, "logreg", tmp_path)
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["checkpoint_path"] = str(path)
    at.session_state["dataset_name"] = "digits"
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "came without their recipe" in text and "replays the same run" not in text


def test_the_verification_page_names_unrolling_sgds_venue(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app_pages" / "verification.py"), default_timeout=120).run()
    text = " ".join(m.value for m in at.markdown)
    assert '"Unrolling SGD" (IEEE EuroS&P 2022)' in text and "USENIX Security 2022" not in text


def test_an_upload_is_recorded_by_its_own_name_and_hash_beside_the_resaved_file(
    tmp_path, monkeypatch, digits, logreg_state
):
    """Issue 15, item 3: the sidebar and the run record name the uploaded file and its sha256,
    not only the safetensors it was re-saved as."""
    upload = tmp_path / "theirs.pt"
    torch.save(logreg_state, upload)
    uploaded = hashlib.sha256(upload.read_bytes()).hexdigest()
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    path = import_weights(
        "theirs.pt", upload.read_bytes(), digits, "logreg", tmp_path / "store" / "models"
    )
    trained, meta = load_checkpoint(path, digits)
    assert meta["sha256"] != uploaded and meta["source_sha256"] == uploaded
    checkpoints = unlearn_model(
        trained, meta, digits, ForgetRequest.for_indices(digits, [4]), "none"
    ).report.checkpoints
    assert (checkpoints.source_file, checkpoints.source_sha256) == ("theirs.pt", uploaded)
    assert (checkpoints.original_file, checkpoints.original_sha256) == (path.name, meta["sha256"])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["checkpoint_path"] = str(path)
    at.run()
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert not at.exception
    assert f"uploaded as `theirs.pt`, sha256 `{uploaded[:12]}`" in sidebar
    assert f"stored as `{path.name}`, sha256 `{meta['sha256'][:12]}`" in sidebar


def test_a_model_near_chance_is_cautioned_and_the_demo_is_not(tmp_path, digits, monkeypatch):
    # logistic regression trained one epoch at lr 1e-5: about chance on 10 classes
    recipe = Recipe(lr=1e-5, batch_size=256, epochs=1, probe_every=0)
    path = tmp_path / "barely.safetensors"
    save_checkpoint(train("logreg", digits, recipe, device="cpu", probes=False), path)
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["checkpoint_path"] = str(path)
    at.session_state["dataset_name"] = "digits"
    at.run()
    assert not at.exception and not at.error
    test_acc = load_checkpoint(path, digits)[1]["history"][-1]["test_acc"]
    assert test_acc < 0.2
    (caution,) = [w.value for w in at.warning]
    assert "has learned little" in caution and "twice chance (10% for 10 classes)" in caution
    assert "forget accuracy is already near chance" in caution and "Train it more" in caution

    demo = AppTest.from_file(PAGE, default_timeout=120).run()  # the demo model, 80% or so
    assert not demo.exception
    assert not [w for w in demo.warning if "learned little" in w.value]


def test_a_browser_file_name_becomes_a_safe_stem():
    """Upload names (weights, audit records) name files and messages here: never a path."""
    assert safe_stem("../My model (2).pt", 48, "weights") == "My_model_2_"
    assert safe_stem("/etc/passwd", 48, "weights") == "passwd"
    assert safe_stem("a" * 60 + ".pt", 48, "weights") == "a" * 48
    assert safe_stem("(((.pt", 48, "weights") == "_" and safe_stem(".pt", 48, "weights") == "_pt"
    assert safe_stem("", 48, "weights") == "weights"
