"""A training script written the way the Venturalitica SDK's docs and samples
use its API (`from venturalitica.metrics import calc_accuracy
from venturalitica.quickstart import load_sample`, wrap,
enforce with several policies, `results[0].passed`, monitor with a label and
outputs, retain, a policy with `input:aggregation`, a metric function from
`venturalitica.metrics`, and a 1/2-coded target without positive_label,
which is an error result, not a crash, outside strict mode).
It runs unchanged with venturalitica, in a plain Python process or in a
notebook cell on the proxied kernel, and prints one JSON line of results.

    python examples/sdk_style/train_loan.py
"""

import json
import pickle
from pathlib import Path

import venturalitica as vl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from venturalitica.metrics import calc_accuracy
from venturalitica.quickstart import load_sample

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path("examples/sdk_style")

df = load_sample("loan", verbose=False)
df["age_group"] = (df["Attribute13"] < 25).map({True: "under 25", False: "25 and over"})
features = ["Attribute2", "Attribute5", "Attribute8", "Attribute11", "Attribute13", "Attribute16", "Attribute18"]
train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["class"])

with vl.monitor("train_loan", label="logistic-regression", outputs=["model.pkl"]) as window:
    model = vl.wrap(LogisticRegression(max_iter=1000), policy=HERE / "data_policy.yaml")
    model.fit(train[features], train["class"], audit_data=train, target="class")
    data_results = model.last_audit_results
    with open("model.pkl", "wb") as f:
        pickle.dump(model._venturalitica_model, f)

    model = vl.wrap(model._venturalitica_model, policy=HERE / "model_policy.yaml")
    predictions = model.predict(test[features], audit_data=test, target="class", gender="Attribute9")

results = vl.enforce(
    data=test.assign(prediction=predictions),
    policy=[HERE / "data_policy.yaml", HERE / "model_policy.yaml"],
    target="class",
    prediction="prediction",
    gender="Attribute9",
    strict=False,
)
kept = vl.retain(results)
unlabelled = vl.enforce(data=df, policy=HERE / "credit_policy.yaml", target="class", gender="Attribute9")
print(
    json.dumps(
        {
            "fit": {c.control_id: c.actual_value for c in data_results},
            "predict": {c.control_id: c.actual_value for c in model.last_audit_results},
            "all": {c.control_id: [c.status, c.actual_value] for c in kept},
            "passed": results.passed,
            "first": [results[0].control_id, results[0].passed],
            "unlabelled": [unlabelled[0].status, unlabelled[0].passed, unlabelled.passed],
            "model_sha256": window.artifacts["outputs"][0]["sha256"],
            "accuracy": float((predictions == test["class"]).mean()),
            # German Credit's `class` is 1/2: the engine asks which is positive.
            "calc_accuracy": calc_accuracy(
                test.assign(prediction=predictions), target="class", prediction="prediction", positive_label=1
            ),
        }
    )
)
