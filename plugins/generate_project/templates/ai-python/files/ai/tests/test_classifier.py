# Tests of the classifier and of the predictor trained on the project's resources.
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from classifier import NaiveBayes, tokenize
from predict import main, predict, train
from training import RESOURCE_OF, TRAINING

HERE = Path(__file__).resolve().parent.parent


def test_tokenize_folds_accents_and_snake_case():
    assert tokenize("Crème brûlée order_items 42!") == ["creme", "brulee", "order", "items", "42"]


def test_classifier_learns_a_toy_problem():
    model = NaiveBayes().fit([("cheap fast car", "car"), ("red car wheels", "car"),
                              ("green apple fruit", "fruit"), ("sweet fruit juice", "fruit")])
    assert model.predict("a fast red car") == "car"
    assert model.predict("apple juice") == "fruit"
    proba = model.predict_proba("unknown words only")
    assert math.isclose(sum(proba.values()), 1.0)


def test_untrained_and_empty_training_are_errors():
    with pytest.raises(ValueError):
        NaiveBayes().predict("x")
    with pytest.raises(ValueError):
        NaiveBayes().fit([])
    with pytest.raises(ValueError):
        NaiveBayes(smoothing=0)


def test_json_round_trip_keeps_predictions():
    model = NaiveBayes().fit([("alpha beta", "a"), ("gamma delta", "b")])
    again = NaiveBayes.from_json(model.to_json())
    assert again.to_json() == model.to_json()
    for text in ("alpha", "delta gamma", "nothing"):
        assert again.predict_proba(text) == model.predict_proba(text)


@pytest.mark.skipif(not TRAINING, reason="the project has no resources")
def test_every_resource_is_recognised():
    model = train()
    for singular, resource in RESOURCE_OF.items():
        result = predict(model, "please show me the %s %s" % (singular, resource))
        assert result["resource"] == resource, result
        assert math.isclose(sum(result["probabilities"].values()), 1.0, rel_tol=1e-5)


@pytest.mark.skipif(not TRAINING, reason="the project has no resources")
def test_training_is_deterministic():
    assert train().to_json() == train().to_json()


def test_command_line(capsys):
    assert main(["predict.py"]) == 2
    if TRAINING:
        out = subprocess.run([sys.executable, str(HERE / "predict.py"), "new " + next(iter(RESOURCE_OF))],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out)["resource"] == next(iter(RESOURCE_OF.values()))
