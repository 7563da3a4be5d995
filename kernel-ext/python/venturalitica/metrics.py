"""``venturalitica.metrics``, as the Venturalitica SDK names it: a function
per metric (``calc_accuracy(df, target=..., prediction=...)``), the registry
of every key (:data:`METRIC_REGISTRY`), what each number means
(:data:`METRIC_META`; :data:`METRIC_METADATA` in the SDK's dict shape) and
:func:`check_threshold_orientation`.

Each function is a one-control evaluation by the engine that ``vl.enforce``
runs: the same formulas, the same undefined cases (an error, never a
number that could pass a threshold), nothing recorded in the evidence.
They raise :class:`DataError` (a ``ValueError``) for a role not given or a
metric undefined on the data, and :class:`MissingColumnError` (a
``KeyError``) for a column the data does not have. Where the SDK returns a
fallback instead (``disparate_impact`` of 1.0 on a missing column, a mean
of 0.0 without a column), docs/migrating-from-the-sdk.md says why we raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _catalog, _engines, _frames
from ._bridge import agent
from .errors import DataError, MissingColumnError
from .results import ComplianceResult

# METRIC_REGISTRY, METRIC_META and METRIC_METADATA are built on first use (`__getattr__`),
# so a star import does not start the agent.
__all__ = [
    "MetricMeta",
    "check_threshold_orientation",
    "evaluate",
]

# The SDK's keyword names for the roles (our slots), and its "not given".
_ROLE_NAMES = {"sensitive_attribute": "sensitive", "dimensions": "cells"}
_SLOTS = {"target", "prediction", "dimension", "quasi_identifiers", "sensitive", "columns", "score", "cells"}
_NOT_GIVEN = (None, "MISSING")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _data_columns(data: Any) -> list[str]:
    engine = _engines.engine_for(data)
    return [n for n, _ in engine.columns()] if engine is not None else _frames.column_names(data)


def evaluate(metric_key: str, data: Any, **kwargs: Any) -> ComplianceResult:
    """Evaluates one metric on ``data`` and returns its result (value,
    per-group breakdown, bindings). Keywords name the roles' columns
    (``target``, ``prediction``, ``dimension``, ``score``,
    ``quasi_identifiers``, ``sensitive_attribute``, ``dimensions``); any
    other keyword is a metric parameter (``positive_label``, ``measure``).
    A parameter the metric does not use is an error, not ignored."""
    from .api import enforce

    key = _catalog.canonical(metric_key)
    if key is None:
        raise DataError(f"unknown metric {metric_key!r}")
    entry = _catalog.metrics()[key]
    roles: dict[str, list[str]] = {}
    params: dict[str, str] = {}
    for name, value in kwargs.items():
        slot = _ROLE_NAMES.get(name, name)
        if slot in _SLOTS:
            if value not in _NOT_GIVEN:
                roles[slot] = _names(value)
        elif value is not None:
            params[name] = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    required = set(entry["required_inputs"])
    if "score" in required and "score" not in roles and "target" in roles:
        required.discard("score")  # the per-case score bound as the target, as SDK controls do
    missing = sorted(required - roles.keys())
    if missing:
        given = ", ".join(f"{m}=" for m in missing)
        raise DataError(f"Missing columns for {key}: Required column not given: {given}")
    columns = _data_columns(data)
    absent = sorted({c for names in roles.values() for c in names if c not in columns})
    if absent:
        raise MissingColumnError(f"{key}: column(s) {absent} not in the data; its columns: {columns}")
    # `==` bounds neither side, so the loader's orientation check stays quiet;
    # the comparison itself is not what this function reports.
    control = {"id": key, "metric_key": key, "operator": "==", "threshold": 0}
    control.update({f"input:{slot}": ", ".join(names) for slot, names in roles.items()})
    control.update(params)
    policy = {"title": f"venturalitica.metrics: {key}", "controls": [control]}
    result = enforce(data, policy, target=None, strict=True, record=False)[0]
    if result.warnings:
        raise DataError(f"{key}: " + "; ".join(result.warnings))
    return result


def _with_groups(key: str, result: ComplianceResult) -> Any:
    """The SDK returns ``(value, metadata)`` for group score statistics."""
    key = _catalog.canonical(key) or key
    entry = _catalog.metrics()[key]
    if entry["family"] != "score" or not {"dimension", "cells"} & set(entry["required_inputs"]):
        return result.actual_value
    means = {g["group"]: g["rates"].get("mean_score") for g in result.groups}
    return result.actual_value, {"cells" if key == "worst_cell_score" else "groups": means}


def _metric_function(key: str, name: str) -> Callable[..., Any]:
    def calc(df: Any, **kwargs: Any) -> Any:
        return _with_groups(key, evaluate(key, df, **kwargs))

    calc.__name__ = calc.__qualname__ = name
    calc.__doc__ = f"``{key}`` of ``df``, computed by the engine (see :func:`evaluate`)."
    return calc


# The SDK's functions, by its names; the first named for a key is the
# registry's function for that key.
_BY_KEY: dict[str, Callable[..., Any]] = {}


def _sdk(key: str, name: str) -> Callable[..., Any]:
    function = _metric_function(key, name)
    _BY_KEY.setdefault(key, function)
    return function


calc_accuracy = _sdk("accuracy_score", "calc_accuracy")
calc_precision = _sdk("precision_score", "calc_precision")
calc_recall = _sdk("recall_score", "calc_recall")
calc_f1 = _sdk("f1_score", "calc_f1")
calc_demographic_parity = _sdk("demographic_parity_diff", "calc_demographic_parity")
calc_equal_opportunity = _sdk("equal_opportunity_diff", "calc_equal_opportunity")
calc_equalized_odds_ratio = _sdk("equalized_odds_ratio", "calc_equalized_odds_ratio")
calc_predictive_parity = _sdk("predictive_parity", "calc_predictive_parity")
calc_multiclass_demographic_parity = _sdk("multiclass_demographic_parity", "calc_multiclass_demographic_parity")
calc_multiclass_equal_opportunity = _sdk("multiclass_equal_opportunity", "calc_multiclass_equal_opportunity")
calc_multiclass_confusion_metrics = _sdk("multiclass_confusion_metrics", "calc_multiclass_confusion_metrics")
calc_weighted_demographic_parity_multiclass = _sdk(
    "weighted_demographic_parity_multiclass", "calc_weighted_demographic_parity_multiclass"
)
calc_macro_equal_opportunity_multiclass = _sdk(
    "macro_equal_opportunity_multiclass", "calc_macro_equal_opportunity_multiclass"
)
calc_micro_equalized_odds_multiclass = _sdk("micro_equalized_odds_multiclass", "calc_micro_equalized_odds_multiclass")
calc_predictive_parity_multiclass = _sdk("predictive_parity_multiclass", "calc_predictive_parity_multiclass")
calc_disparate_impact = _sdk("disparate_impact", "calc_disparate_impact")
calc_class_imbalance = _sdk("class_imbalance", "calc_class_imbalance")
calc_group_min_positive_rate = _sdk("group_min_positive_rate", "calc_group_min_positive_rate")
calc_data_completeness = _sdk("data_completeness", "calc_data_completeness")
calc_k_anonymity = _sdk("k_anonymity", "calc_k_anonymity")
calc_l_diversity = _sdk("l_diversity", "calc_l_diversity")
calc_t_closeness = _sdk("t_closeness", "calc_t_closeness")
calc_data_minimization_score = _sdk("data_minimization", "calc_data_minimization_score")
calc_path_decomposition = _sdk("path_decomposition", "calc_path_decomposition")
calc_counterfactual_fairness = _sdk("counterfactual_fairness", "calc_counterfactual_fairness")
calc_fairness_through_awareness = _sdk("fairness_through_awareness", "calc_fairness_through_awareness")
calc_causal_fairness_diagnostic = _sdk("causal_fairness_diagnostic", "calc_causal_fairness_diagnostic")
calc_mean = _sdk("bias_score", "calc_mean")
calc_classification_distribution = _sdk("classification_distribution", "calc_classification_distribution")
calc_report_coverage = _sdk("report_coverage", "calc_report_coverage")
calc_provenance_completeness = _sdk("provenance_completeness", "calc_provenance_completeness")
calc_chunk_diversity = _sdk("chunk_diversity", "calc_chunk_diversity")
calc_subtitle_diversity = _sdk("subtitle_diversity", "calc_subtitle_diversity")
calc_mean_score = _sdk("mean_score", "calc_mean_score")
calc_max_score = _sdk("max_score", "calc_max_score")
calc_min_group_score = _sdk("min_group_score", "calc_min_group_score")
calc_worst_cell_score = _sdk("worst_cell_score", "calc_worst_cell_score")
calc_group_score_gap = _sdk("group_score_gap", "calc_group_score_gap")
calc_essp = _sdk("essp", "calc_essp")
calc_es_dice = _sdk("es_dice", "calc_es_dice")
calc_es_iou = _sdk("es_iou", "calc_es_iou")
calc_essp_stdev = _sdk("essp_stdev", "calc_essp_stdev")
calc_subgroup_disparity = _sdk("subgroup_disparity", "calc_subgroup_disparity")
calc_score_gap = _sdk("score_gap", "calc_score_gap")
calc_score_ratio = _sdk("score_ratio", "calc_score_ratio")
calc_score_std = _sdk("score_std", "calc_score_std")
calc_score_cv = _sdk("score_cv", "calc_score_cv")
calc_score_skew = _sdk("score_skew", "calc_score_skew")
calc_mean_nsd = _sdk("mean_nsd", "calc_mean_nsd")
calc_mean_hd95 = _sdk("mean_hd95", "calc_mean_hd95")
calc_max_hd95 = _sdk("max_hd95", "calc_max_hd95")
calc_mean_excess_components = _sdk("mean_excess_components", "calc_mean_excess_components")
calc_max_excess_components = _sdk("max_excess_components", "calc_max_excess_components")

# The SDK's registry names the same function under a second key here.
_SDK_KEYS = {"worst_group_score": calc_min_group_score}


@dataclass(frozen=True)
class MetricMeta:
    """What a metric's number means: ``unit``, which way is better, and
    ``bounds`` (``None``: unbounded; an open end is ``inf``)."""

    unit: str
    lower_is_better: bool
    bounds: tuple[float, float] | None = None
    description: str = ""


def _registry() -> dict[str, Callable[..., Any]]:
    """Every key and alias of the catalogue, each to its function."""
    registry: dict[str, Callable[..., Any]] = {}
    for m in _catalog.catalog()["metrics"]:
        function = _BY_KEY.get(m["key"]) or _metric_function(m["key"], f"calc_{m['key']}")
        for name in (m["key"], *m["aliases"]):
            registry[name] = _SDK_KEYS.get(name, function)
    return registry


def _end(value: float | None, open_end: float) -> float:
    return open_end if value is None else value


def _meta() -> dict[str, MetricMeta]:
    inf = float("inf")
    out = {}
    for m in _catalog.catalog()["metrics"]:
        sense = m["sense"]
        if sense is None:
            continue
        bounds = sense["bounds"]
        meta = MetricMeta(
            unit=sense["unit"],
            lower_is_better=sense["lower_is_better"],
            bounds=None if bounds is None else (_end(bounds[0], -inf), _end(bounds[1], inf)),
            description=m["summary"],
        )
        for name in (m["key"], *m["aliases"]):
            out[name] = meta
    return out


# The SDK's categories, by the catalogue's metric family.
_CATEGORIES = {
    "outcome_rate": "fairness",
    "error_rate": "fairness",
    "multiclass": "fairness",
    "score": "fairness",
    "performance": "performance",
    "class_balance": "data_quality",
    "completeness": "data_quality",
    "schema": "privacy",
    "privacy": "privacy",
    "external": "causal",
}


def _metadata() -> dict[str, dict[str, Any]]:
    """``METRIC_METADATA`` in the SDK's shape (``name``, ``description``,
    ``category``, ``required_roles``, ``ideal_value``, ``scale``), for every
    key and alias of the agent's catalogue."""
    inf = float("inf")
    out: dict[str, dict[str, Any]] = {}
    for m in _catalog.catalog()["metrics"]:
        sense = m["sense"]
        if sense is None or sense["bounds"] is None:
            scale: Any = "Variable"
            ideal: Any = "See documentation"
        else:
            low, high = (_end(sense["bounds"][0], -inf), _end(sense["bounds"][1], inf))
            scale = (low, high)
            ideal = low if sense["lower_is_better"] else high
            if abs(ideal) == inf:
                ideal = "See documentation"
        entry = {
            "name": m["key"].replace("_", " ").title(),
            "description": m["summary"],
            "category": _CATEGORIES.get(m["family"], m["family"]),
            "required_roles": list(m["required_inputs"]),
            "ideal_value": ideal,
            "scale": scale,
        }
        for name in (m["key"], *m["aliases"]):
            out[name] = dict(entry)
    return out


def check_threshold_orientation(metric_key: str, operator: str, threshold: float) -> str | None:
    """Why ``metric_key operator threshold`` cannot mean what it says (a
    threshold outside the metric's range, or ``>=`` on a metric where lower
    is better), or ``None``: plausible, or a metric whose sense depends on
    the data. The policy loader gives the same reason as a warning."""
    return agent().request("threshold_check", metric_key=metric_key, operator=operator, threshold=float(threshold))[
        "reason"
    ]


def __getattr__(name: str) -> Any:
    # Built from the agent's catalogue on first use, not at import.
    if name == "METRIC_REGISTRY":
        value = _registry()
    elif name == "METRIC_META":
        value = _meta()
    elif name == "METRIC_METADATA":
        value = _metadata()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
