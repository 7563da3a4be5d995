"""Inputs that must give an `error` result or exit 2 with a message that
names the cause; never a pass."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml


def write_policy(path, *controls):
    path.write_text(yaml.safe_dump(list(controls), sort_keys=False))
    return path


def ctl(cid, metric, op=">=", threshold=0.0, **props):
    return {
        "id": cid,
        "metric_key": metric,
        "operator": op,
        "threshold": threshold,
        **{k.replace("__", "."): v for k, v in props.items()},
    }


@pytest.fixture
def frame(tmp_path):
    def write(df: pd.DataFrame, name="d.csv"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            df.to_parquet(path)
        else:
            df.to_csv(path, index=False)
        return path

    return write


def only_control(run):
    results = run.json()
    assert len(results["controls"]) == 1
    return results, results["controls"][0]


def test_missing_column_lists_existing_columns(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"class": [0, 1, 1], "sex": ["m", "f", "m"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="gender"))
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json", "gender=Attribute9")
    assert run.code == 1
    results, c = only_control(run)
    assert results["passed"] is False
    assert c["status"] == "error" and c["passed"] is False
    assert 'column "Attribute9", which the data does not have; columns: class, sex' in c["reason"]


def test_unbound_variable_without_synonym(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"class": [0, 1, 1], "region": ["n", "s", "n"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="ethnicity"))
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json")
    assert run.code == 1
    _, c = only_control(run)
    assert (
        c["reason"] == 'variable "ethnicity" matches no column (map it with ethnicity=COLUMN); columns: class, region'
    )


def test_synonym_binding_is_recorded(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"class": [0, 1, 1, 0], "sex": ["m", "f", "m", "f"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="gender"))
    results, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert results["data"]["mapping"] == {"gender": "sex", "target": "class"}
    assert c["status"] == "pass"
    # A synonym is a guess, and the result says so.
    assert 'variable "gender" was bound to column "sex" by synonym' in " ".join(c["warnings"])
    _, c = only_control(
        vl("enforce", "--data", data, "--policy", policy, "--format", "json", "gender=sex", "--target", "class")
    )
    assert c["warnings"] == []


def test_one_group_is_an_error(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [0, 1, 1], "g": ["a", "a", "a"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g"))
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json")
    assert run.code == 1
    _, c = only_control(run)
    assert c["status"] == "error" and "only one group" in c["reason"]


def test_group_without_positives_is_an_error_where_fairlearn_says_zero(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [1, 0, 0, 0], "prediction": [1, 0, 1, 0], "g": ["a", "a", "b", "b"]}))
    policy = write_policy(
        tmp_path / "p.yaml", ctl("c", "equal_opportunity_diff", op="<", threshold=1.0, input__dimension="g")
    )
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["status"] == "error"
    assert 'group "b" has no rows whose target is positive' in c["reason"]


def test_empty_data_is_an_error(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": pd.Series([], dtype="int64"), "g": pd.Series([], dtype="str")}), "e.parquet")
    policy = write_policy(
        tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g"), ctl("a", "class_imbalance")
    )
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json")
    assert run.code == 1
    assert [c["status"] for c in run.json()["controls"]] == ["error", "error"]


def test_nulls_in_target_are_an_error(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [1, None, 0, 1], "g": ["a", "a", "b", "b"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g"))
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["status"] == "error" and "1 missing values" in c["reason"]


def test_labels_other_than_0_1_need_positive_label(vl, tmp_path, frame):
    # German Credit codes good/bad credit as 1/2.
    data = frame(pd.DataFrame({"class": [1, 2, 1, 2, 1, 1], "g": ["a", "a", "a", "b", "b", "b"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g"))
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["status"] == "error" and "values other than 0/1" in c["reason"]
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g", positive_label="1"))
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["status"] == "pass"
    # a: 2 of 3 rows are class 1; b: 2 of 3 as well.
    assert c["actual_value"] == pytest.approx(1.0, abs=1e-12)


def test_text_labels_need_positive_label(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": ["good", "bad", "good", "good"], "g": ["a", "a", "b", "b"]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g"))
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["status"] == "error" and "positive_label" in c["reason"]
    policy = write_policy(
        tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="g", positive_label="good")
    )
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    assert c["actual_value"] == pytest.approx(0.5)


def test_numeric_bins_group_an_attribute(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [1, 0, 1, 1, 1, 0], "age": [20, 22, 30, 40, 50, None]}))
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "disparate_impact", input__dimension="age", bins="25"))
    _, c = only_control(vl("enforce", "--data", data, "--policy", policy, "--format", "json"))
    groups = {g["group"]: g["n"] for g in c["groups"]}
    assert groups == {"<25": 2, ">=25": 3, "(missing)": 1}


def test_malformed_yaml_exits_2_naming_line_and_column(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [0, 1]}))
    policy = tmp_path / "bad.yaml"
    policy.write_text("- id: a\n  metric_key: accuracy_score\n  operator: [\n")
    run = vl("enforce", "--data", data, "--policy", policy)
    assert run.code == 2
    assert f"{policy}:" in run.stderr and "not valid YAML or JSON" in run.stderr


def test_unknown_metric_exits_2_with_suggestion(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [0, 1]}))
    policy = tmp_path / "p.yaml"
    policy.write_text("- id: a\n  metric_key: disparate_impakt\n  operator: '>'\n  threshold: 0.8\n")
    run = vl("enforce", "--data", data, "--policy", policy)
    assert run.code == 2
    assert (
        f'{policy}:2:15: control "a": unknown metric_key "disparate_impakt"; closest known: disparate_impact'
        in run.stderr
    )


def test_missing_data_file_and_bad_mapping_exit_2(vl, tmp_path):
    policy = write_policy(tmp_path / "p.yaml", ctl("c", "class_imbalance"))
    run = vl("enforce", "--data", "nope.parquet", "--policy", policy)
    assert run.code == 2 and "nope.parquet: no such file" in run.stderr
    run = vl("enforce", "--data", "nope.parquet", "--policy", policy, "gender")
    assert run.code == 2 and "expected VAR=COLUMN" in run.stderr


def test_warn_mode_failure_does_not_fail_the_run(vl, tmp_path, frame):
    data = frame(pd.DataFrame({"target": [1, 1, 1, 0]}))
    policy = write_policy(
        tmp_path / "p.yaml", ctl("c", "class_imbalance", op=">", threshold=0.5, enforcement_mode="warn")
    )
    run = vl("enforce", "--data", data, "--policy", policy, "--format", "json")
    assert run.code == 0
    _, c = only_control(run)
    assert c["status"] == "fail" and c["enforcement_mode"] == "warn"
