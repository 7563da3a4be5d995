//! Loading every policy shape, and every kind of bad policy.

use std::path::{Path, PathBuf};

use venturalitica_metrics::{MetricKey, Slot};
use venturalitica_policy::{
    load_policy, parse_policy, parse_policy_with, EnforcementMode, Leniency, Metric, Operator,
    PolicyErrorKind, PolicyShape,
};

fn fixture(name: &str) -> PathBuf {
    // Read at run time (cargo test sets it): a test binary reused from a
    // target dir shared with another clone would carry that clone's path.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../tests/fixtures/policies")
        .join(name)
}

/// Parses inline text and returns the error's `Display`.
fn error_of(text: &str) -> String {
    parse_policy(Path::new("p.yaml"), text)
        .expect_err("policy should be rejected")
        .to_string()
}

#[test]
fn component_definition() {
    let p = load_policy(&fixture("component_definition.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::ComponentDefinition);
    assert_eq!(p.title.as_deref(), Some("Credit scoring fairness"));
    assert_eq!(p.version.as_deref(), Some("1.2.0"));
    assert_eq!(p.controls.len(), 2);
    let di = &p.controls[0];
    assert_eq!(di.id, "credit-gender-di");
    assert_eq!(di.metric, Metric::Known(MetricKey::DisparateImpact));
    assert_eq!(di.operator, Operator::Ge);
    assert_eq!(di.threshold, 0.8);
    assert_eq!(di.severity.as_deref(), Some("high"));
    assert_eq!(di.inputs[&Slot::Dimension], vec!["gender"]);
    assert_eq!(di.risk["risk_id"], "R-12");
    assert_eq!(
        di.risk["threshold_justification"],
        "Four-fifths rule (EEOC)"
    );
    assert_eq!(p.controls[1].enforcement_mode, EnforcementMode::Warn);
    assert_eq!(p.controls[1].operator, Operator::Gt);
    assert_eq!(p.main_source().sha256.len(), 64);
}

#[test]
fn legacy_assessment_plan_with_colon_inputs_and_sdk_metric_names() {
    let p = load_policy(&fixture("assessment_plan.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::AssessmentPlan);
    let c = &p.controls[0];
    assert_eq!(c.metric, Metric::Known(MetricKey::DisparateImpact));
    assert_eq!(c.metric_as_written, "disparate_impact_ratio");
    assert_eq!(c.inputs[&Slot::Dimension], vec!["age"]);
    assert_eq!(c.enforcement_mode, EnforcementMode::Block);
}

#[test]
fn sdk_templates_put_assessment_plan_controls_under_control_implementations() {
    let p = load_policy(&fixture("sdk_assessment_plan.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::AssessmentPlan);
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "C.2.1-nondiscrimination-disparate-impact",
            "C.2.2-equalized-odds"
        ]
    );
    assert_eq!(
        p.controls[1].metric,
        Metric::Known(MetricKey::EqualizedOddsDiff)
    );
    assert_eq!(p.title.as_deref(), Some("Pre-release evaluation gate"));
}

/// The SDK samples' spine-segmentation plan: `reviewed-controls` holds the
/// `control-implementations` itself and no `control-selections`. Its
/// metric keys are its own, so a lenient load keeps them as unknown.
#[test]
fn an_assessment_plan_may_nest_implementations_in_reviewed_controls() {
    let text = "assessment-plan:\n  metadata: {title: Spine}\n  reviewed-controls:\n    control-implementations:\n      \
                - implemented-requirements:\n          - control-id: small-volume\n            props:\n              \
                - {name: metric_key, value: min_scanner_dice}\n              - {name: operator, value: gt}\n              \
                - {name: threshold, value: '0.85'}\n          - control-id: acc\n            props:\n              \
                - {name: metric_key, value: accuracy_score}\n              - {name: operator, value: gt}\n              \
                - {name: threshold, value: '0.5'}\n";
    let e = error_of(text);
    assert!(e.contains("unknown metric_key \"min_scanner_dice\""), "{e}");
    let p = parse_policy_with(Path::new("p.yaml"), text, Leniency::UnknownMetricsAsErrors).unwrap();
    assert_eq!(p.shape, PolicyShape::AssessmentPlan);
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["small-volume", "acc"]);
    assert!(matches!(p.controls[0].metric, Metric::Unknown { .. }));
    assert_eq!(p.controls[1].metric, Metric::Known(MetricKey::Accuracy));
}

#[test]
fn catalog_walks_groups_and_nested_controls_and_lists_prose_controls() {
    let p = load_policy(&fixture("catalog.yaml")).unwrap();
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["fair-1", "fair-1.1"]);
    assert_eq!(p.manual_controls, ["doc-1"]);
    assert_eq!(
        p.controls[0].description.as_deref(),
        Some("Equal opportunity")
    );
}

#[test]
fn profile_imports_selects_and_alters() {
    let p = load_policy(&fixture("profile.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::Profile);
    assert_eq!(p.controls.len(), 1);
    assert_eq!(p.controls[0].id, "fair-1");
    assert_eq!(p.controls[0].threshold, 0.05, "the profile's alter wins");
    assert_eq!(p.controls[0].risk["risk_id"], "R-7");
    assert_eq!(p.sources.len(), 2, "the imported catalog is a source too");
}

#[test]
fn system_security_plan_in_json_with_numeric_threshold() {
    let p = load_policy(&fixture("ssp.json")).unwrap();
    assert_eq!(p.shape, PolicyShape::SystemSecurityPlan);
    assert_eq!(p.controls[0].metric, Metric::Known(MetricKey::Accuracy));
    assert_eq!(p.controls[0].threshold, 0.7);
}

#[test]
fn plain_list_with_direct_keys() {
    let p = load_policy(&fixture("list.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::ControlList);
    assert_eq!(p.controls[1].metric, Metric::Known(MetricKey::KAnonymity));
    assert_eq!(
        p.controls[1].inputs[&Slot::QuasiIdentifiers],
        vec!["age", "zip"]
    );
}

#[test]
fn other_props_become_metric_parameters() {
    let p = parse_policy(
        Path::new("p.yaml"),
        "- id: a\n  metric_key: selection_rate\n  operator: '>'\n  threshold: 0.1\n  props:\n    - {name: positive_label, value: good}\n",
    )
    .unwrap();
    assert_eq!(p.controls[0].params["positive_label"], "good");
}

#[test]
fn plain_list_keys_are_props_too() {
    let p = parse_policy(
        Path::new("p.yaml"),
        "- id: a\n  metric_key: disparate_impact\n  operator: '>'\n  threshold: 0.1\n  bins: '25'\n  risk_id: R1\n",
    )
    .unwrap();
    assert_eq!(p.controls[0].params["bins"], "25");
    assert_eq!(p.controls[0].risk["risk_id"], "R1");
}

#[test]
fn unknown_operator_names_line_and_column() {
    let e = error_of("- id: a\n  metric_key: accuracy_score\n  operator: '=>'\n  threshold: 0.5\n");
    assert_eq!(
        e,
        "p.yaml:3:13: control \"a\": unknown operator \"=>\"; expected one of < lt > gt <= le lte >= ge gte == eq != ne"
    );
}

#[test]
fn non_numeric_threshold() {
    let e = error_of(
        "assessment-plan:\n  reviewed-controls:\n    control-selections:\n      - include-controls:\n        - control-id: x\n          props:\n            - {name: metric_key, value: f1_score}\n            - {name: operator, value: '>'}\n            - {name: threshold, value: high}\n",
    );
    assert!(e.starts_with("p.yaml:9:"), "{e}");
    assert!(e.contains("threshold \"high\" is not a number"), "{e}");
}

#[test]
fn unknown_metric_suggests_the_closest() {
    let e =
        error_of("- id: a\n  metric_key: disparate_impakt\n  operator: '>'\n  threshold: 0.5\n");
    assert!(e.starts_with("p.yaml:2:15:"), "{e}");
    assert!(e.contains("closest known: disparate_impact"), "{e}");
}

#[test]
fn empty_policy() {
    let e = error_of("component-definition:\n  components: []\n");
    assert_eq!(e, "p.yaml: the policy has no controls");
    assert!(matches!(
        *parse_policy(Path::new("p.yaml"), "[]").unwrap_err().kind,
        PolicyErrorKind::Empty
    ));
}

#[test]
fn malformed_yaml_names_the_place() {
    let e = error_of("assessment-plan:\n  metadata: {title: x\n  other: 1\n");
    assert!(e.starts_with("p.yaml:"), "{e}");
    assert!(e.contains("not valid YAML or JSON"), "{e}");
}

#[test]
fn malformed_json_names_the_place() {
    let e = parse_policy(Path::new("p.json"), "{\"catalog\": {\"controls\": [}\n").unwrap_err();
    assert!(e.location.is_some(), "{e}");
}

#[test]
fn unknown_shape_lists_the_keys_found() {
    let e = error_of("policy:\n  rules: []\n");
    assert!(
        e.contains("unknown policy shape (top-level keys: policy)"),
        "{e}"
    );
}

#[test]
fn incomplete_control_says_what_is_missing() {
    let e = error_of("- id: a\n  metric_key: accuracy_score\n  threshold: 0.5\n");
    assert!(
        e.contains("control \"a\": metric_key is set but operator is not"),
        "{e}"
    );
}

/// `input:` props that name no data variable are metric parameters, as
/// the SDK reads `input:aggregation` (an unused one is a warning on the
/// result, tested in the engine).
#[test]
fn an_input_prop_that_is_no_slot_is_a_parameter() {
    let text = "- id: a\n  metric_key: multiclass_demographic_parity\n  operator: '<'\n  threshold: 0.2\n  \
                input:target: y\n  input:aggregation: macro\n  input.colour: red\n";
    let p = parse_policy(Path::new("p.yaml"), text).unwrap();
    let c = &p.controls[0];
    assert_eq!(
        c.params.get("aggregation").map(String::as_str),
        Some("macro")
    );
    assert_eq!(c.params.get("colour").map(String::as_str), Some("red"));
    assert_eq!(
        c.inputs.keys().copied().collect::<Vec<_>>(),
        vec![Slot::Target]
    );
}

/// Strict, an unknown metric refuses the policy; lenient (the Python API
/// outside strict mode), that control alone is kept as unknown, with the
/// located message, and every other problem still refuses the policy.
#[test]
fn a_lenient_load_keeps_an_unknown_metric_as_an_unknown_control() {
    let text = "- id: a\n  metric_key: accuracy_score\n  operator: '>'\n  threshold: 0.5\n\
                - id: b\n  metric_key: nonexistent_metric\n  operator: gt\n  threshold: 0.5\n";
    let strict = error_of(text);
    assert!(strict.starts_with("p.yaml:6:"), "{strict}");
    assert!(
        strict.contains("control \"b\": unknown metric_key \"nonexistent_metric\""),
        "{strict}"
    );
    let p = parse_policy_with(Path::new("p.yaml"), text, Leniency::UnknownMetricsAsErrors).unwrap();
    assert_eq!(p.controls[0].metric, Metric::Known(MetricKey::Accuracy));
    let b = &p.controls[1];
    let Metric::Unknown { reason } = &b.metric else {
        panic!("{:?}", b.metric)
    };
    assert_eq!(reason, &strict);
    assert_eq!(
        (b.metric_name(), b.operator, b.threshold),
        ("nonexistent_metric", Operator::Gt, 0.5)
    );
    let bad_operator = text.replace("operator: gt", "operator: about");
    let e = parse_policy_with(
        Path::new("p.yaml"),
        &bad_operator,
        Leniency::UnknownMetricsAsErrors,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown operator \"about\""), "{e}");
}

#[test]
fn unknown_enforcement_mode() {
    let e = error_of("- id: a\n  metric_key: accuracy_score\n  operator: '>'\n  threshold: 0.5\n  enforcement_mode: maybe\n");
    assert!(e.contains("unknown enforcement_mode \"maybe\""), "{e}");
}

#[test]
fn duplicate_control_ids_are_kept_apart_with_a_warning() {
    let text = "- id: a\n  metric_key: f1\n  operator: '>'\n  threshold: 0.5\n- id: a\n  metric_key: recall_score\n  operator: '>'\n  threshold: 0.5\n";
    let p = parse_policy(Path::new("p.yaml"), text).unwrap();
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a", "a/2"]);
    assert_eq!(p.controls[1].metric_name(), "recall_score");
    let w = p.warnings.join("\n");
    assert!(
        w.contains("p.yaml:5:7: control id \"a\" is used again (first at 1:7); this control is reported as \"a/2\""),
        "{w}"
    );
}

/// The SDK samples' governance policy nests requirements under a grouping
/// requirement of the catalog control's id, each linking its own metric.
#[test]
fn nested_requirements_sharing_a_control_id_are_each_evaluated() {
    let text = r##"catalog:
  uuid: c
  controls:
    - id: A.1
      title: Fairness
  inventory-items:
    - uuid: m-dp
      props:
        - {name: metric_key, value: demographic_parity_diff}
        - {name: operator, value: "<"}
        - {name: threshold, value: "0.1"}
        - {name: "input:dimension", value: gender}
    - uuid: m-eo
      props:
        - {name: metric_key, value: equal_opportunity_diff}
        - {name: operator, value: "<"}
        - {name: threshold, value: "0.1"}
        - {name: "input:dimension", value: gender}
  control-implementations:
    - uuid: impl
      implemented-requirements:
        - uuid: req-group
          control-id: A.1
          implemented-requirements:
            - uuid: req-dp
              control-id: A.1
              links: [{href: "#m-dp"}]
            - uuid: req-eo
              control-id: A.1
              links: [{href: "#m-eo"}]
"##;
    let p = parse_policy(Path::new("g.yaml"), text).unwrap();
    let got: Vec<(&str, &str)> = p
        .controls
        .iter()
        .map(|c| (c.id.as_str(), c.metric_name()))
        .collect();
    assert_eq!(
        got,
        [
            ("A.1", "demographic_parity_diff"),
            ("A.1/req-eo", "equal_opportunity_diff")
        ]
    );
    assert!(p.manual_controls.is_empty(), "{:?}", p.manual_controls);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
}

#[test]
fn missing_import_names_the_href() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, "profile:\n  imports:\n    - href: nowhere.yaml\n").unwrap();
    let e = load_policy(&path).unwrap_err().to_string();
    assert!(e.contains(":3:13: cannot import \"nowhere.yaml\""), "{e}");
}

#[test]
fn missing_file() {
    let e = load_policy(Path::new("/no/such/policy.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/no/such/policy.yaml: cannot read the policy"),
        "{e}"
    );
}

#[test]
fn catalog_with_inventory_items_linked_from_requirements() {
    let p = load_policy(&fixture("catalog_inventory.yaml")).unwrap();
    assert_eq!(p.shape, PolicyShape::Catalog);
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "gov-balance",
            "gov-fair-gender",
            "gov-fpr-age",
            "gov-own-props"
        ]
    );
    let fair = &p.controls[1];
    assert_eq!(
        (&fair.metric, fair.operator, fair.threshold),
        (
            &Metric::Known(MetricKey::DisparateImpact),
            Operator::Ge,
            0.8
        )
    );
    assert_eq!(fair.inputs[&Slot::Dimension], vec!["gender"]);
    assert_eq!(
        fair.description.as_deref(),
        Some("Approvals do not favour one gender")
    );
    // The item without a metric is skipped; the requirement's own props stay.
    let fpr = &p.controls[2];
    assert_eq!(fpr.metric, Metric::Known(MetricKey::PredictiveEqualityDiff));
    assert_eq!(fpr.severity.as_deref(), Some("high"));
    // Direct props win over a link.
    assert_eq!(p.controls[3].metric, Metric::Known(MetricKey::Accuracy));
    assert_eq!(p.manual_controls, ["gov-doc"]);
    assert!(p.warnings.is_empty());
}

#[test]
fn inventory_links_that_cannot_be_one_control_are_errors() {
    let two = "catalog:\n  uuid: c\n  inventory-items:\n    - uuid: a\n      props:\n        - {name: metric_key, value: accuracy_score}\n        - {name: threshold, value: '0.5'}\n        - {name: operator, value: '>'}\n    - uuid: b\n      props:\n        - {name: metric_key, value: recall_score}\n        - {name: threshold, value: '0.5'}\n        - {name: operator, value: '>'}\n  control-implementation:\n    implemented-requirements:\n      - control-id: both\n        links:\n          - {href: '#a'}\n          - {href: '#b'}\n";
    let e = error_of(two);
    assert!(e.contains("p.yaml:19:"), "{e}");
    assert!(
        e.contains("control \"both\" links to 2 inventory items that define a metric (#a, #b)"),
        "{e}"
    );
    // An inventory item's bad prop is reported where the item writes it.
    let bad = two.replace("value: recall_score", "value: recal_score");
    let e = error_of(&bad.replace("          - {href: '#a'}\n", ""));
    assert!(e.contains("p.yaml:11:") && e.contains("recal_score"), "{e}");
    let no_uuid = "catalog:\n  uuid: c\n  inventory-items:\n    - props: []\n  controls: []\n";
    assert!(error_of(no_uuid).contains("an inventory item has no `uuid`"));
}

#[test]
fn duplicate_keys_keep_the_last_value_with_a_warning_naming_both_lines() {
    let p = load_policy(&fixture("duplicate_keys.yaml")).unwrap();
    assert_eq!(p.controls[0].threshold, 0.8);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let w = &p.warnings[0];
    assert!(
        w.contains("duplicate_keys.yaml:22:19: key \"value\" is written twice"),
        "{w}"
    );
    assert!(w.contains("(first at line 21)"), "{w}");
    // Nested and flow mappings, and keys in different mappings that are not
    // duplicates.
    let text = "controls:\n  - {id: a, metric_key: accuracy_score, operator: '>', threshold: 0.1, threshold: 0.2, input.prediction: p}\n  - id: b\n    metric_key: accuracy_score\n    operator: '>'\n    threshold: 0.3\n    input.prediction: p\n";
    let p = parse_policy(Path::new("p.yaml"), text).unwrap();
    assert_eq!(p.controls[0].threshold, 0.2);
    assert_eq!(p.controls[1].threshold, 0.3);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("\"threshold\""));
}

#[test]
fn catalog_controls_implemented_by_linked_requirements() {
    let p = load_policy(&fixture("catalog_baseline.yaml")).unwrap();
    let ids: Vec<&str> = p.controls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["B.1", "B.2"]);
    assert_eq!(
        p.controls[0].metric,
        Metric::Known(MetricKey::DemographicParityDiff)
    );
    assert_eq!(p.controls[0].operator, Operator::Lt);
    assert_eq!(p.controls[0].severity.as_deref(), Some("high"));
    assert_eq!(p.controls[1].metric, Metric::Known(MetricKey::Accuracy));
    // The prose control nobody implements stays manual.
    assert_eq!(p.manual_controls, ["B.3"]);
    // Two metric controls with one id are both kept, the second renamed.
    let twice = "controls:\n  - {id: a, metric_key: accuracy_score, operator: '>', threshold: 0.1, input.prediction: p}\n  - {id: a, metric_key: recall_score, operator: '>', threshold: 0.1, input.prediction: p}\n";
    let p = parse_policy(Path::new("p.yaml"), twice).unwrap();
    assert_eq!(p.controls[1].id, "a/2");
}

#[test]
fn ssp_risk_register_fields_reach_the_controls_that_treat_them() {
    let p = load_policy(&fixture("ssp_risks.yaml")).unwrap();
    let exclusion = &p.controls[0].risk;
    assert_eq!(exclusion["risk_title"], "Unfair exclusion from credit");
    assert_eq!(exclusion["risk_status"], "active");
    assert_eq!(
        exclusion["risk_uuid"],
        "9c0d1e2f-0000-4000-8000-00000000e0c1"
    );
    assert_eq!(exclusion["treatment_type"], "mitigate");
    let feedback = &p.controls[1].risk;
    assert_eq!(feedback["risk_title"], "Feedback loops in retraining");
    assert!(!p.controls[2].risk.contains_key("risk_title"));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("\"treat-unknown\" names risk \"R-NONE\""));
    // A register alone is not a policy that passes: it says what is missing.
    let only = "system-security-plan:\n  uuid: s\n  control-implementation:\n    implemented-requirements: []\n  risks:\n    - {uuid: r1, title: A risk}\n";
    assert!(error_of(only).contains("only a risk register of 1 risk(s)"));
}
