# Which resource is a sentence about? python3 predict.py "add a new product"
# prints JSON: the resource and the probability of each one.
import json
import sys

from classifier import NaiveBayes
from training import RESOURCE_OF, TRAINING


def train():
    return NaiveBayes().fit(TRAINING)


def predict(model, text):
    proba = model.predict_proba(text)
    label = model.predict(text)
    return {"resource": RESOURCE_OF[label],
            "probabilities": {RESOURCE_OF[k]: round(v, 6) for k, v in sorted(proba.items())}}


def main(argv):
    if len(argv) != 2 or not argv[1].strip():
        print("usage: predict.py TEXT", file=sys.stderr)
        return 2
    if not TRAINING:
        print("the project has no resources to classify", file=sys.stderr)
        return 1
    print(json.dumps(predict(train(), argv[1]), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
