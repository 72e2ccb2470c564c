"""dive.metrics against hand-computed values and against medmnist's own evaluator."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from medmnist.evaluator import getACC, getAUC

from dive import metrics
from dive.metrics import TASKS, ensemble_probs, evaluate, majority_rate, metrics_row, predict

# 6 samples, 3 classes. predicted (argmax) = [0, 1, 1, 1, 2, 0]
Y6 = np.array([0, 0, 1, 1, 2, 2])
P6 = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.2, 0.7],
        [0.5, 0.1, 0.4],
    ]
)


def pairwise_auc(y_binary, score) -> float:
    """AUC by definition: share of (positive, negative) pairs ranked correctly, ties count 1/2."""
    pos = [s for s, t in zip(score, y_binary, strict=False) if t]
    neg = [s for s, t in zip(score, y_binary, strict=False) if not t]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_hand_example_multiclass():
    m = evaluate(Y6, P6, "multi-class", class_names=["a", "b", "c"])
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    pc = {d["class"]: d for d in m["per_class"]}
    assert list(pc) == ["a", "b", "c"]
    # class a predicted for samples 0 and 5, right once; class b predicted 3 times, right twice
    assert pc["a"]["precision"] == pytest.approx(1 / 2)
    assert pc["b"]["precision"] == pytest.approx(2 / 3)
    assert pc["c"]["precision"] == pytest.approx(1.0)
    assert [pc[c]["recall"] for c in "abc"] == pytest.approx([1 / 2, 1.0, 1 / 2])
    assert [pc[c]["f1"] for c in "abc"] == pytest.approx([1 / 2, 4 / 5, 2 / 3])
    assert [pc[c]["support"] for c in "abc"] == [2, 2, 2]
    assert m["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["majority_rate"] == pytest.approx(1 / 3)
    assert m["auc_undefined_classes"] == []
    for key in ("accuracy", "precision", "recall", "f1", "auc"):
        assert type(m[key]) is float and 0.0 <= m[key] <= 1.0
    json.dumps(m)  # serialisable as is


def test_multiclass_auc_is_mean_of_one_vs_rest():
    m = evaluate(Y6, P6, "multi-class")
    per = [pairwise_auc(Y6 == i, P6[:, i]) for i in range(3)]
    # class 0: positives .7, .3 vs negatives .1, .2, .1, .5 -> .7 beats 4, .3 beats 3: 7/8
    assert per[0] == pytest.approx(7 / 8)
    assert m["auc"] == pytest.approx(np.mean(per))
    assert [d["auc"] for d in m["per_class"]] == pytest.approx(per)
    assert m["auc_excluding_undefined"] == pytest.approx(m["auc"])


def test_binary_auc_by_hand():
    # positives score .9, .4, .7; negatives .5, .2: 5 of the 6 pairs ranked correctly
    y = np.array([1, 1, 1, 0, 0])
    pos = np.array([0.9, 0.4, 0.7, 0.5, 0.2])
    probs = np.stack([1 - pos, pos], axis=1)
    m = evaluate(y, probs, "binary-class")
    assert m["auc"] == pytest.approx(5 / 6)
    # threshold 0.5 (strict): predicted [1, 0, 1, 0, 0]
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert m["confusion_matrix"] == [[2, 0], [1, 2]]
    # a single positive-score column gives the same result
    m1 = evaluate(y, pos, "binary-class")
    assert m1["auc"] == pytest.approx(5 / 6) and m1["confusion_matrix"] == m["confusion_matrix"]


def test_multilabel_by_hand():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.6, 0.8], [0.4, 0.7], [0.1, 0.6]])
    m = evaluate(y, p, "multi-label, binary-class", class_names=["x", "y"])
    # label x predicted [1,1,0,0] vs [1,0,1,0] -> 2/4; label y predicted [0,1,1,1] vs [0,1,1,0] -> 3/4
    assert m["accuracy"] == pytest.approx((2 / 4 + 3 / 4) / 2)
    # per label [[tn, fp], [fn, tp]]
    assert m["confusion_matrix"] == [[[1, 1], [1, 1]], [[1, 1], [0, 2]]]
    assert [d["support"] for d in m["per_class"]] == [2, 2]
    assert m["per_class"][1]["precision"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx((pairwise_auc(y[:, 0], p[:, 0]) + pairwise_auc(y[:, 1], p[:, 1])) / 2)
    assert m["majority_rate"] is None


@pytest.mark.parametrize("task", TASKS)
def test_same_numbers_as_medmnist(task):
    rng = np.random.default_rng(7)
    n = 200
    if task == "multi-label, binary-class":
        y = rng.integers(0, 2, size=(n, 4))
        p = rng.random((n, 4))
    elif task == "binary-class":
        y = rng.integers(0, 2, size=(n, 1))  # MedMNIST's (N, 1) label layout
        p = torch.softmax(torch.from_numpy(rng.normal(size=(n, 2))), 1).numpy()
    else:
        c = 5 if task == "ordinal-regression" else 9
        y = rng.integers(0, c, size=(n, 1))
        p = torch.softmax(torch.from_numpy(rng.normal(size=(n, c))), 1).numpy()
    m = evaluate(y, p, task)
    assert m["auc"] == pytest.approx(getAUC(y, p, task), abs=1e-12)
    assert m["accuracy"] == pytest.approx(getACC(y, p, task), abs=1e-12)
    assert 0.3 < m["auc"] < 0.7  # random scores: near chance, so the comparison is not trivial


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")  # raised inside medmnist's getAUC
def test_undefined_auc_is_nan_like_medmnist_with_defined_mean_alongside():
    y = np.array([0, 0, 1, 1, 0, 1])  # class 2 never occurs
    p = P6
    expected = getAUC(y, p, "multi-class")
    assert math.isnan(expected)  # what medmnist itself gives with this scikit-learn
    with pytest.warns(UserWarning, match="undefined"):
        m = evaluate(y, p, "multi-class", class_names=["a", "b", "c"])
    assert math.isnan(m["auc"])
    assert m["auc_undefined_classes"] == ["c"]
    defined = [pairwise_auc(y == i, p[:, i]) for i in (0, 1)]
    assert m["auc_excluding_undefined"] == pytest.approx(np.mean(defined))
    assert math.isnan(m["per_class"][2]["auc"])
    assert m["per_class"][2]["support"] == 0 and m["per_class"][2]["recall"] == 0.0
    assert m["confusion_matrix"][2] == [0, 0, 0]
    json.dumps(m)


@pytest.mark.filterwarnings("ignore:AUC is undefined")
def test_class_never_seen_nor_predicted_is_still_listed():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1]])
    m = evaluate(y, p, class_names=["a", "b", "c"])
    assert [d["class"] for d in m["per_class"]] == ["a", "b", "c"]
    assert m["per_class"][2] == {
        "class": "c",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "auc": m["per_class"][2]["auc"],
    }
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    # macro averages run over all three classes (zero_division=0 for the empty one)
    assert m["precision"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_unknown_task_and_bad_shapes():
    with pytest.raises(ValueError, match="multi-class"):
        evaluate(Y6, P6, "regression")
    with pytest.raises(ValueError, match="samples"):
        evaluate(Y6[:5], P6, "multi-class")
    with pytest.raises(ValueError, match="labels"):
        evaluate(np.array([0, 0, 1, 1, 2, 3]), P6, "multi-class")
    with pytest.raises(ValueError, match="class names"):
        evaluate(Y6, P6, "multi-class", class_names=["a", "b"])


def test_class_names_from_medmnist_info_mapping():
    m = evaluate(Y6, P6, class_names={"1": "b", "0": "a", "2": "c"})
    assert [d["class"] for d in m["per_class"]] == ["a", "b", "c"]


class _Recorder(torch.nn.Module):
    def __init__(self, log_softmax=False):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)
        self.drop = torch.nn.Dropout(0.9)
        self.log_softmax = log_softmax
        self.seen_training = []

    def forward(self, x):
        self.seen_training.append(self.training)
        out = self.drop(self.lin(x))
        return torch.log_softmax(out, 1) if self.log_softmax else out


def _batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(5, 3, generator=g), torch.randn(2, 3, generator=g), torch.randn(4, 3, generator=g)]
    ys = [torch.tensor([[3], [1], [2], [0], [1]]), torch.tensor([2, 2]), torch.tensor([0, 3, 3, 1])]
    return list(zip(xs, ys, strict=False))


@pytest.mark.parametrize("log_softmax", [False, True])
def test_predict_probabilities_order_and_mode(log_softmax):
    torch.manual_seed(0)
    model = _Recorder(log_softmax)
    model.train()
    batches = _batches()
    y, p = predict(model, batches)
    assert model.training and model.drop.training  # mode restored
    assert model.seen_training == [False, False, False]  # evaluated in eval mode
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 2, 0, 1, 2, 2, 0, 3, 3, 1]
    assert p.shape == (11, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    with torch.no_grad():
        expected = torch.softmax(model.lin(torch.cat([x for x, _ in batches])), 1).numpy()
    np.testing.assert_allclose(p, expected, rtol=1e-5, atol=1e-6)

    model.eval()
    predict(model, batches)
    assert not model.training


def test_predict_restores_mixed_submodule_modes():
    model = _Recorder()
    model.train()
    model.lin.eval()  # e.g. a frozen backbone part
    predict(model, _batches())
    assert model.training and model.drop.training and not model.lin.training


def test_predict_multilabel_uses_sigmoid():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(6, 3)
    yl = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])
    y, p = predict(model, [(x[:4], yl[:4]), (x[4:], yl[4:])], multilabel=True)
    assert y.shape == (6, 2) and y.tolist() == yl.tolist()
    with torch.no_grad():
        np.testing.assert_allclose(p, torch.sigmoid(model(x)).numpy(), rtol=1e-6)


def test_ensemble_average_and_weights():
    a = np.array([[0.8, 0.2], [0.4, 0.6]])
    b = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(ensemble_probs([a, b]), [[0.5, 0.5], [0.5, 0.5]])
    # weights 3:1 are normalised to 0.75/0.25
    np.testing.assert_allclose(ensemble_probs([a, b], weights=[3, 1]), [[0.65, 0.35], [0.45, 0.55]])
    np.testing.assert_allclose(ensemble_probs([a, b], weights=[1, 0]), a)
    with pytest.raises(ValueError, match="shape"):
        ensemble_probs([a, np.ones((3, 2)) / 2])
    with pytest.raises(ValueError, match="weights"):
        ensemble_probs([a, b], weights=[1])
    with pytest.raises(ValueError, match="weights"):
        ensemble_probs([a, b], weights=[0, 0])
    with pytest.raises(ValueError):
        ensemble_probs([])


def test_majority_rate_and_metrics_row():
    assert majority_rate([0, 1, 1, 2, 1, 0]) == pytest.approx(3 / 6)
    assert majority_rate(np.array([[4], [4], [4], [1]])) == pytest.approx(3 / 4)
    m = evaluate(Y6, P6)
    row = metrics_row(m)
    assert list(row) == ["accuracy", "precision", "recall", "f1", "auc"]
    assert row["accuracy"] == m["accuracy"] and row["auc"] == m["auc"]
    assert metrics_row(m, keys=("n",)) == {"n": 6}
    with pytest.raises(KeyError):
        metrics_row(m, keys=("top5",))


def test_tasks_constant_matches_medmnist_info():
    import medmnist

    assert {info["task"] for info in medmnist.INFO.values()} <= set(metrics.TASKS)


# --- parity with medmnist.Evaluator on files of the official format ------------------------------

#: One MedMNIST 2D flag per task type (RetinaMNIST's ordinal regression is scored as multi-class).
PARITY_FLAGS = {
    "multi-class": "pathmnist",
    "binary-class": "pneumoniamnist",
    "multi-label, binary-class": "chestmnist",
    "ordinal-regression": "retinamnist",
}


@pytest.fixture(scope="module")
def parity_root(tmp_path_factory):
    from dive.synthetic import write_synthetic_root

    return write_synthetic_root(
        tmp_path_factory.mktemp("parity"),
        datasets=tuple(PARITY_FLAGS.values()),
        sizes={"train": 160, "val": 60, "test": 90},
    )


def test_parity_flags_cover_every_task_type():
    import medmnist

    assert set(PARITY_FLAGS) == set(TASKS)
    assert all(medmnist.INFO[flag]["task"] == task for task, flag in PARITY_FLAGS.items())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("task", TASKS)
def test_parity_with_medmnist_evaluator_on_model_predictions(parity_root, task):
    """A dive model's predictions on the official test split (dive's loader, batches and ``predict``),
    scored by dive and by ``medmnist.Evaluator`` reading the labels from the same file."""
    from medmnist import Evaluator

    from dive import data
    from dive.batches import Batches, Preprocess
    from dive.models import build_model

    flag = PARITY_FLAGS[task]
    ds = data.load(flag, parity_root, split="official")
    assert ds.task == task
    torch.manual_seed(0)
    net = build_model("simplecnn", ds.num_classes, ds.channels, multilabel=ds.train.multilabel)
    pre = Preprocess.for_model(net.spec, dataset_stats=ds.train.mean_std(), normalize="dataset")
    y, probs = predict(net, Batches(ds.test, 32, pre, device="cpu"), multilabel=ds.train.multilabel)
    evaluator = Evaluator(flag, "test", root=str(parity_root / "medmnist"))
    assert probs.dtype == np.float32 and len(probs) == len(evaluator.labels) == 90
    np.testing.assert_array_equal(y.reshape(len(y), -1), evaluator.labels)  # same images, same order
    auc, acc = evaluator.evaluate(probs)
    m = evaluate(y, probs, ds.task, ds.classes)
    assert m["auc"] == pytest.approx(auc, abs=1e-9, rel=0)
    assert m["accuracy"] == pytest.approx(acc, abs=1e-9, rel=0)
    assert not math.isnan(auc) and 0.0 < acc < 1.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("task", TASKS)
def test_parity_with_medmnist_evaluator_with_ties_and_float32(parity_root, task):
    """Scores rounded to one decimal (many ties, values exactly at the 0.5 threshold), in float32."""
    from medmnist import Evaluator

    flag = PARITY_FLAGS[task]
    evaluator = Evaluator(flag, "test", root=str(parity_root / "medmnist"))
    labels = evaluator.labels
    rng = np.random.default_rng(3)
    if task == "multi-label, binary-class":
        scores = rng.random(labels.shape)
    else:
        scores = rng.dirichlet(np.ones(len(evaluator.info["label"])), size=len(labels))
    scores = np.round(scores, 1).astype(np.float32)
    assert (scores == 0.5).any()  # the threshold itself occurs: '> 0.5' vs '>= 0.5' would differ
    auc, acc = evaluator.evaluate(scores)
    m = evaluate(labels, scores, task)
    assert m["auc"] == pytest.approx(auc, abs=1e-9, rel=0)
    assert m["accuracy"] == pytest.approx(acc, abs=1e-9, rel=0)
