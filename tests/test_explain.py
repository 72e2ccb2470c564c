"""dive.explain: attributions checked against ground truth, completeness, faithfulness and sanity.

The ground truth: synthetic PathMNIST-format data whose every class has its signal in its own known cell
of a 3 x 3 grid (``dive.synthetic`` with ``signal="regions"``); an improved SimpleCNN learns it through
``dive.experiment.run``, then the methods must point at the cell.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dive import attribution, attribution_checks, data, experiment, explain
from dive.batches import Preprocess
from dive.models import MODEL_NAMES, build_model
from dive.synthetic import class_regions, write_synthetic_root


def _learn(ds, seed):
    run = experiment.run(
        ds, "simplecnn", epochs=3, batch_size=32, lr=2e-3, evaluate_test=True, device="cpu", quiet=True, seed=seed
    )
    e = attribution.Explainer.from_run(run, ds, device="cpu")
    x = ds.test.images[:16]
    targets = e.predict(x)
    maps = e.explain(x, ["integrated_gradients", "gradcam"], targets)
    return run, e, x, targets, maps


@pytest.fixture(scope="module")
def regions_data(tmp_path_factory):
    root = write_synthetic_root(
        tmp_path_factory.mktemp("regions"), ["pathmnist"], sizes={"train": 360, "val": 60, "test": 60}, signal="regions"
    )
    return data.load("pathmnist", root)


@pytest.fixture(scope="module")
def learned(regions_data):
    ds = regions_data
    run, e, x, targets, maps = _learn(ds, 0)
    return {
        "data": ds,
        "run": run,
        "explainer": e,
        "x": x,
        "targets": targets,
        "maps": maps,
        "regions": class_regions(ds.num_classes, 28)[targets],
    }


@pytest.fixture(scope="module")
def learned_seeds(learned, regions_data):
    """The same model trained with three seeds (0 is ``learned``): per seed its maps and class regions."""
    out = [learned]
    for seed in (1, 2):
        run, _e, _x, targets, maps = _learn(regions_data, seed)
        out.append({"run": run, "maps": maps, "regions": class_regions(regions_data.num_classes, 28)[targets]})
    return out


def test_the_model_learned_the_regions(learned):
    # chance is 1/9; the tests below only mean something for a model that learned the signal
    assert learned["run"].test["accuracy"] >= 0.8, learned["run"].test["accuracy"]
    y = learned["data"].test.labels[:16].numpy()
    assert (learned["targets"] == y).mean() >= 0.8


def test_ig_and_gradcam_put_their_mass_in_the_class_region_and_random_does_not(learned, learned_seeds):
    share = learned["regions"].reshape(16, -1).mean(1).mean()  # the region's area share (about 1/9)
    # over three training seeds, per seed: the median image puts at least twice the area share of its map's
    # mass in the class's cell, and so do at least half of the 16 images one by one (not one seed's mean).
    # Measured (seeds 0, 1, 2): Integrated Gradients median 0.91 / 0.92 / 0.89, every image above 2 x share;
    # Grad-CAM median 0.34 / 0.31 / 0.32, 62 % / 81 % / 62 % of the images above (2 x share = 0.226)
    for k, seed_run in enumerate(learned_seeds):
        assert seed_run["run"].test["accuracy"] >= 0.8, (k, seed_run["run"].test["accuracy"])
        share = seed_run["regions"].reshape(16, -1).mean(1).mean()
        for method in ("integrated_gradients", "gradcam"):
            mass = attribution_checks.mass_in_region(seed_run["maps"][method], seed_run["regions"])
            above = float((mass >= 2 * share).mean())
            assert np.median(mass) >= 2 * share and above >= 0.5, (k, method, np.median(mass), above, share)
    share = learned["regions"].reshape(16, -1).mean(1).mean()
    random_map = np.random.default_rng(0).standard_normal(learned["maps"]["gradcam"].shape)
    mass = attribution_checks.mass_in_region(random_map, learned["regions"]).mean()
    assert mass < 2 * share and abs(mass - share) < 0.05, (mass, share)


def test_maps_are_on_the_files_pixels(learned):
    for method, m in learned["maps"].items():
        assert m.shape == (16, 28, 28) and np.isfinite(m).all(), method
    assert (learned["maps"]["gradcam"] >= 0).all()  # ReLU'd


def test_integrated_gradients_completeness(learned):
    e, x, t = learned["explainer"], learned["x"], learned["targets"]
    delta = e.integrated_gradients_delta(x, t)
    f_x = e.scores(x).gather(1, torch.as_tensor(t)[:, None])[:, 0].numpy()
    f_b = e.scores(torch.zeros(x.shape)).gather(1, torch.as_tensor(t)[:, None])[:, 0].numpy()
    assert np.abs(f_x - f_b).max() > 1  # the black baseline is far from the image: a real test
    assert (np.abs(delta) <= attribution.IG_TOLERANCE * np.maximum(1, np.abs(f_x - f_b))).all(), delta


def test_deletion_auc_of_ig_is_below_random_and_a_random_map_is_flagged(learned):
    e, x, t = learned["explainer"], learned["x"], learned["targets"]
    noise = np.random.default_rng(1).standard_normal(learned["maps"]["gradcam"].shape)
    f = attribution_checks.faithfulness(
        e, x, {"integrated_gradients": learned["maps"]["integrated_gradients"], "noise": noise}, t, steps=10, n_random=1
    )
    rows = f.table.set_index("method")
    ig = rows.loc["integrated_gradients"]
    assert ig["deletion_auc"] < ig["deletion_auc_random"] - 0.1, ig
    assert ig["insertion_auc"] > ig["insertion_auc_random"], ig
    assert ig["verdict"] == "faithful"
    assert rows.loc["noise", "verdict"] == "not faithful for this model"
    assert f.curves[("integrated_gradients", "deletion")][0] == pytest.approx(f.curves[("random", "deletion")][0])


def test_cascading_randomisation_lowers_the_correlation(learned):
    e, x, t = learned["explainer"], learned["x"][:8], learned["targets"][:8]
    maps = {k: v[:8] for k, v in learned["maps"].items()}
    c = attribution_checks.cascading_randomisation(e, x, t, ["integrated_gradients", "gradcam"], stages=2, maps=maps)
    last = c[c["layers_randomised"] == c["of_layers"]].set_index("method")["spearman"]
    v = attribution_checks.sanity_verdicts(c).set_index("method")["verdict"]
    threshold = attribution_checks.SANITY_THRESHOLD  # the notebook's verdict and this test use the same bar
    # Grad-CAM's maps depend on the learned weights: with every layer random they no longer correlate
    assert last["gradcam"] <= threshold and v["gradcam"] == "passes: maps depend on the learned weights", c
    # Integrated Gradients with a black baseline multiplies the gradient by the image, so its maps keep the
    # image's structure for a random network (Adebayo et al. 2018 found the same for Gradient x Input):
    # measured 0.63 / 0.60 / 0.63 for training seeds 0 / 1 / 2 with all nine layers random. It fails the check,
    # and the test asserts the verdict the notebook shows rather than a looser bound
    assert last["integrated_gradients"] > threshold, c
    assert v["integrated_gradients"] == f"fails: maps barely change (Spearman > {threshold})"
    # the trained model itself was left untouched
    assert (e.predict(x) == t).all()


def test_randomise_touches_only_the_named_layers():
    m = build_model("simplecnn", 3, 1)
    layers = attribution_checks.parameter_layers(m)
    assert layers[0] == "fc2" and layers[-1] == "conv1.0"
    twin = attribution_checks.randomise(m, layers[:2])
    assert layers[:2] == ["fc2", "fc_bn"]
    before = dict(m.named_parameters())
    changed = {n for n, p in twin.named_parameters() if not torch.equal(p, before[n])}
    # fc2 is re-drawn; fc_bn's reset (weight 1, bias 0) equals a fresh BN's; nothing below them moves
    assert changed == {"fc2.weight", "fc2.bias"}, changed


@pytest.mark.parametrize("name,batch_norm", [(n, None) for n in MODEL_NAMES] + [("alexnet", True)])
def test_gradcam_layer_and_maps_of_the_input_size_for_every_model(name, batch_norm):
    torch.manual_seed(0)
    model = build_model(name, 3, 1, batch_norm=batch_norm, image_size=16)
    expected = {
        "simplecnn_v1": "conv2.0",
        "simplecnn": "conv3.0",
        "xception": "bn4",
        "alexnet": "features.14" if batch_norm else "features.10",
    }
    expected = expected.get(name, "layer4" if name.startswith("resnet") else "?")
    layer_name, layer = attribution.gradcam_layer(model)
    assert layer_name == expected and layer is dict(model.named_modules())[expected]
    size = None if name.startswith("simplecnn") else 20  # the SimpleCNNs were built for 16 px
    pre = Preprocess.for_model(model.spec, size=size, dataset_stats=((0.5,), (0.25,)))
    e = attribution.Explainer(model, pre, device="cpu")
    x = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    maps = e.attribute(x, "gradcam", [0, 1])
    assert maps.shape == (2, 16, 16) and np.isfinite(maps).all()


def test_multilabel_explains_one_label_with_sigmoid_probabilities():
    torch.manual_seed(0)
    model = build_model("simplecnn", 5, 3, multilabel=True)
    pre = Preprocess.for_model(model.spec, dataset_stats=((0.5,) * 3, (0.25,) * 3))
    e = attribution.Explainer(model, pre, multilabel=True, device="cpu")
    x = torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8)
    p = e.probabilities(x)
    assert p.shape == (3, 5) and ((p > 0) & (p < 1)).all() and not np.allclose(p.sum(1), 1)
    maps = e.explain(x, ["saliency", "occlusion"], targets=4)
    assert maps["saliency"].shape == (3, 28, 28) and maps["occlusion"].shape == (3, 28, 28)


def test_targets_from_a_read_only_array_are_copied_without_a_warning():
    """pandas' copy-on-write hands out read-only arrays (``df["target"].to_numpy()``); torch would share their
    memory and warn that writing to it is undefined. The targets are copied instead: same maps, no warning."""
    torch.manual_seed(0)
    model = build_model("simplecnn", 3, 1)
    e = attribution.Explainer(model, Preprocess.for_model(model.spec, dataset_stats=((0.5,), (0.25,))), device="cpu")
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    targets = np.array([0, 2, 1, 2])
    targets.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = e.attribute(x, "saliency", targets)
        delta = e.integrated_gradients_delta(x, torch.tensor([0, 2, 1, 2]))
    assert np.array_equal(got, e.attribute(x, "saliency", [0, 2, 1, 2])) and delta.shape == (4,)
    assert not np.array_equal(got, e.attribute(x, "saliency", [1, 1, 1, 1]))  # the targets are the ones given
    with pytest.raises(ValueError, match="3 targets for 4 images"):
        e.attribute(x, "saliency", np.array([0, 1, 2]))


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: saliency, integrated_gradients, occlusion, gradcam"):
        attribution.check_methods("saliency,lime")


def test_picking_examples_and_confused_pairs():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0, 0.1, 0.9], [0, 0.4, 0.6]])
    ex = explain.pick_examples(y, probs, per_class=1)
    assert list(ex["index"]) == [0, 1, 2, 3, 4] and list(ex["correct"]) == [True, False, True, False, True]
    assert ex.loc[1, "target"] == 1 and ex.loc[1, "prob"] == pytest.approx(0.7)
    cm = np.array([[5, 3, 0], [1, 5, 0], [0, 0, 5]])
    assert explain.confused_pairs(cm, k=3) == [(0, 1, 3), (1, 0, 1)]
    pairs = explain.pair_examples(y, probs, [(0, 1, 1)])
    assert list(pairs["index"]) == [1, 2] and list(pairs["target"]) == [1, 1]


def test_shuffled_labels_keep_the_images_and_the_label_counts(learned):
    ds = learned["data"]
    sh = attribution_checks.shuffled_labels(ds, seed=3)
    assert torch.equal(sh.train.images, ds.train.images)
    assert sorted(sh.train.labels.tolist()) == sorted(ds.train.labels.tolist())
    assert (sh.train.labels != ds.train.labels).float().mean() > 0.5
    assert torch.equal(sh.val.labels, ds.val.labels)


@pytest.mark.parametrize("flag", ["mnist", "pneumoniamnist", "chestmnist"])
def test_study_runs_for_grey_binary_and_multilabel_data(flag, tmp_path):
    """MNIST (grey, 10 classes), PneumoniaMNIST (grey, binary), ChestMNIST (multi-label: explained per label)."""
    root = write_synthetic_root(tmp_path, [flag], sizes={"train": 64, "val": 32, "test": 40})
    ds = data.load(flag, root)
    run = experiment.run(ds, "simplecnn_v1", epochs=1, batch_size=32, evaluate_test=True, device="cpu", quiet=True)
    s = explain.study(
        run, ds, ["saliency", "gradcam"], per_class=1, n_images=6, steps=4, stages=2, pairs=2, device="cpu"
    )
    assert s.example_maps["saliency"].shape[1:] == (28, 28) and s.gradcam_grid == (14, 14)
    # Grad-CAM stays unless every one of its maps is flat (a barely trained net with no positive evidence at
    # its last conv layer): then it is left out of the maps and tables, and a note says so
    kept = ["saliency", "gradcam"] if "gradcam" in s.example_maps else ["saliency"]
    assert set(s.example_maps) == set(kept) and len(s.faithfulness.table) == len(s.sanity) == len(kept)
    assert (len(kept) == 2) != any("Grad-CAM left out" in n and "constant" in n for n in s.notes), s.notes
    ex = s.examples
    assert len(ex) and set(ex["class"]) <= set(ds.classes)
    if flag == "chestmnist":  # per label: the explained target is the label itself, no confusion pairs
        assert (ex["target"] == [ds.classes.index(c) for c in ex["class"]]).all() and not len(s.pairs)
        assert "multi-label" in ds.task


def test_gradcam_moves_off_resnet18s_single_cell_at_32_px():
    """At 32 px ResNet18's layer4 is 1 x 1 (one value, a flat map): Grad-CAM takes layer2's 4 x 4 map instead
    and names it; at 64 px layer3 is 4 x 4; at 224 px layer4 (7 x 7) as before."""
    torch.manual_seed(0)
    model = build_model("resnet18", 3, 3)
    for side, layer, grid in ((32, "layer2", (4, 4)), (64, "layer3", (4, 4)), (224, "layer4", (7, 7))):
        e = attribution.Explainer(model, Preprocess.for_model(model.spec, size=side), device="cpu")
        x = torch.randint(0, 256, (2, 3, side, side), dtype=torch.uint8)
        assert e.gradcam_layer(x)[0] == layer and e.gradcam_grid(x) == grid
        maps = e.attribute(x, "gradcam", [0, 1])
        assert maps.shape == (2, side, side)
    assert attribution.map_sides(model, [("layer4", model.layer4)], torch.zeros(1, 3, 32, 32)) == {"layer4": (1, 1)}


def test_gradcam_refuses_a_model_without_a_map_of_four_cells():
    """ResNet18 on 8 px images: its largest stage map (layer1) is 2 x 2, so no layer has a map of 4 x 4 cells:
    Grad-CAM says so instead of drawing a flat map."""
    torch.manual_seed(0)
    model = build_model("resnet18", 2, 1)
    e = attribution.Explainer(model, Preprocess.for_model(model.spec, size=8), device="cpu")
    x = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    with pytest.raises(attribution.NoSpatialMap, match="no spatial map at this input size"):
        e.attribute(x, "gradcam", [0])


def test_study_of_a_32_px_resnet18_uses_a_4x4_layer_and_names_it(tmp_path):
    root = write_synthetic_root(tmp_path, ["pneumoniamnist"], sizes={"train": 64, "val": 32, "test": 24})
    ds = data.load("pneumoniamnist", root)
    run = experiment.run(
        ds, "resnet18", image_size=32, epochs=1, batch_size=32, evaluate_test=True, device="cpu", quiet=True
    )
    s = explain.study(run, ds, ["saliency", "gradcam"], per_class=1, n_images=4, steps=4, stages=2, device="cpu")
    assert s.gradcam_layer == "layer2" and s.gradcam_grid == (4, 4)
    f = s.tables()["faithfulness"]
    assert list(f.columns[:2]) == ["model", "method"]
    assert f.set_index("method").loc["gradcam", "gradcam_layer"] == "layer2 (4x4)"
    g = s.example_maps.get("gradcam")
    assert g is None or (g.reshape(len(g), -1).std(1) > 0).any()  # never only flat maps drawn
