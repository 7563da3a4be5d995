"""A training script written the way the Venturalitica SDK's samples use its
API (load_sample, wrap, enforce with several policies, monitor, retain).
It runs unchanged with venturalitica, in a plain Python process or in a
notebook cell on the proxied kernel, and prints one JSON line of results.

    python examples/sdk_style/train_loan.py
"""

import json
from pathlib import Path

import venturalitica as vl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path("examples/sdk_style")

df = vl.load_sample("loan", verbose=False)
df["age_group"] = (df["Attribute13"] < 25).map({True: "under 25", False: "25 and over"})
features = ["Attribute2", "Attribute5", "Attribute8", "Attribute11", "Attribute13", "Attribute16", "Attribute18"]
train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["class"])

with vl.monitor("train_loan"):
    model = vl.wrap(LogisticRegression(max_iter=1000), policy=HERE / "data_policy.yaml")
    model.fit(train[features], train["class"], audit_data=train, target="class")
    data_results = model.last_audit_results

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
print(
    json.dumps(
        {
            "fit": {c.control_id: c.actual_value for c in data_results},
            "predict": {c.control_id: c.actual_value for c in model.last_audit_results},
            "all": {c.control_id: [c.status, c.actual_value] for c in kept},
            "passed": results.passed,
            "accuracy": float((predictions == test["class"]).mean()),
        }
    )
)
