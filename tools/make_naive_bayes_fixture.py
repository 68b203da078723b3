#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/classic/naive_bayes.json: scikit-learn's MultinomialNB on a small count matrix, the reference
of elm::classic::MultinomialNaiveBayes.

Two fits of the same training documents (9 documents, 6 features, 3 classes, one feature never seen in class 2,
one never seen at all): alpha = 1 with fitted priors, and alpha = 0.3 with uniform priors (fit_prior=False). For
each: class_log_prior_ (K), feature_log_prob_ (K, F), and for 4 test documents predict_log_proba (D, K) and
predict (D). Tensors in the JSON layout of tools/make_attention_fixtures.py.

Usage: python3 tools/make_naive_bayes_fixture.py [--out tests/data/classic]   (pip install numpy scikit-learn)
"""
import argparse
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.naive_bayes import MultinomialNB

X = np.array([[3, 0, 1, 0, 0, 2],
              [2, 1, 0, 0, 0, 1],
              [4, 0, 2, 1, 0, 0],
              [0, 3, 0, 2, 0, 1],
              [1, 4, 0, 3, 0, 0],
              [0, 2, 1, 1, 0, 2],
              [0, 0, 5, 0, 0, 1],
              [1, 0, 3, 0, 0, 0],
              [0, 1, 4, 0, 0, 3]], dtype=np.float64)
y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 0])
X_test = np.array([[1, 0, 0, 0, 0, 0],
                   [0, 2, 0, 1, 0, 0],
                   [0, 0, 2, 1, 3, 0],
                   [2, 1, 1, 1, 1, 1]], dtype=np.float64)


def entry(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "classic"))
    args = parser.parse_args()
    tensors = {"X": entry(X), "y": entry(y), "X_test": entry(X_test)}
    for name, kwargs in (("laplace", {"alpha": 1.0}), ("uniform", {"alpha": 0.3, "fit_prior": False})):
        nb = MultinomialNB(**kwargs).fit(X, y)
        tensors[name + ".class_log_prior"] = entry(nb.class_log_prior_)
        tensors[name + ".feature_log_prob"] = entry(nb.feature_log_prob_)
        tensors[name + ".predict_log_proba"] = entry(nb.predict_log_proba(X_test))
        tensors[name + ".predict"] = entry(nb.predict(X_test))
    meta = {"reference": "sklearn.naive_bayes.MultinomialNB: laplace = (alpha=1.0), uniform = (alpha=0.3, "
                         "fit_prior=False)",
            "sklearn": sklearn.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "naive_bayes.json"), "w") as f:
        json.dump({"meta": meta, "tensors": tensors}, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
