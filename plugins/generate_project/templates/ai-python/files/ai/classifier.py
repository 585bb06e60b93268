# A multinomial naive Bayes text classifier, standard library only.
# Deterministic: same training data, same model, same predictions.
import json
import math
import re
import unicodedata
from collections import Counter

TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text):
    """Lower-case ASCII words of `text` (accents folded, snake_case split)."""
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    return TOKEN.findall(folded.lower().replace("_", " "))


class NaiveBayes:
    def __init__(self, smoothing={{var.smoothing}}):
        if smoothing <= 0:
            raise ValueError("smoothing must be positive")
        self.smoothing = float(smoothing)
        self.doc_counts = Counter()
        self.word_counts = {}
        self.totals = Counter()
        self.vocabulary = set()

    def fit(self, examples):
        """Trains on (text, label) pairs; returns self."""
        examples = list(examples)
        if not examples:
            raise ValueError("no training examples")
        for text, label in examples:
            words = tokenize(text)
            self.doc_counts[label] += 1
            counts = self.word_counts.setdefault(label, Counter())
            counts.update(words)
            self.totals[label] += len(words)
            self.vocabulary.update(words)
        return self

    @property
    def labels(self):
        return sorted(self.doc_counts)

    def log_scores(self, text):
        if not self.doc_counts:
            raise ValueError("the model is not trained")
        words = tokenize(text)
        n_docs = sum(self.doc_counts.values())
        size = len(self.vocabulary) + 1
        scores = {}
        for label in self.labels:
            score = math.log(self.doc_counts[label] / n_docs)
            denominator = self.totals[label] + self.smoothing * size
            for word in words:
                score += math.log((self.word_counts[label][word] + self.smoothing) / denominator)
            scores[label] = score
        return scores

    def predict_proba(self, text):
        """Probability of every label for `text` (they sum to 1)."""
        scores = self.log_scores(text)
        top = max(scores.values())
        exp = {label: math.exp(s - top) for label, s in scores.items()}
        total = sum(exp.values())
        return {label: exp[label] / total for label in self.labels}

    def predict(self, text):
        """The most probable label; ties go to the first label in sorted order."""
        proba = self.predict_proba(text)
        return max(self.labels, key=lambda label: (proba[label], -self.labels.index(label)))

    def to_json(self):
        return json.dumps({"smoothing": self.smoothing,
                           "doc_counts": dict(sorted(self.doc_counts.items())),
                           "word_counts": {k: dict(sorted(v.items())) for k, v in sorted(self.word_counts.items())}},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        model = cls(data["smoothing"])
        for label, count in data["doc_counts"].items():
            model.doc_counts[label] = count
            model.word_counts[label] = Counter(data["word_counts"].get(label, {}))
            model.totals[label] = sum(model.word_counts[label].values())
            model.vocabulary.update(model.word_counts[label])
        return model
