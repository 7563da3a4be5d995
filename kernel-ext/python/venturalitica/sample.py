"""The SDK's sample helpers: ``load_sample``, ``quickstart``,
``list_scenarios``, ``show_code``, ``retain``, ``wrap`` and
``PolicyManager``, with the Venturalitica SDK's signatures (also importable
from the SDK's modules: ``venturalitica.quickstart``, ``.wrappers``,
``.policy``).

Where our semantics differ on purpose, the docstring says so (and
docs/migrating-from-the-sdk.md lists it): the data ships inside the wheel
(no network), metrics are exact, nothing is sent anywhere.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _trackers
from .api import enforce, monitor, policy_file
from .errors import PolicyError
from .loader import OSCALPolicyLoader
from .results import ComplianceResults, PolicyResults

if TYPE_CHECKING:
    from .api import PolicySpec

SAMPLES = {"loan": "German Credit (UCI Statlog, 1,000 loan applicants; CC BY 4.0)"}


def _data_file(name: str) -> Path:
    return Path(str(resources.files("venturalitica") / "data" / name))


def load_sample(name: str, verbose: bool = True):
    """The sample dataset ``name`` as a pandas DataFrame. Only ``"loan"``:
    German Credit, columns ``Attribute1`` .. ``Attribute20`` and ``class``
    (1 = good, 2 = bad), as the UCI repository and the SDK name them.

    Unlike the SDK, which downloads it with ``ucimlrepo``, the data ships
    inside the wheel (``venturalitica/data/german.data``, with its CC BY 4.0
    attribution beside it): no network is used.
    """
    if name not in SAMPLES:
        raise ValueError(f"no sample {name!r}; available: {', '.join(SAMPLES)}")
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("load_sample() returns a pandas DataFrame: pip install pandas") from e
    columns = [f"Attribute{i}" for i in range(1, 21)] + ["class"]
    df = pd.read_csv(_data_file("german.data"), sep=" ", header=None, names=columns)
    if verbose:
        print(f"venturalitica: loaded sample {name!r}: {SAMPLES[name]}, {len(df)} rows")
    return df


def sample_policy(name: str) -> Path:
    """The path of the sample's tutorial policy, shipped in the wheel. Only
    ``"loan"``: the loan tutorial's data policy (``notebooks/data_policy.yaml``
    of the repository, byte for byte): class balance, and disparate impact
    across ``gender`` and across ``age`` (25 or less, or over)."""
    if name not in SAMPLES:
        raise ValueError(f"no sample {name!r}; available: {', '.join(SAMPLES)}")
    return _data_file(f"{name}_data_policy.yaml")


def quickstart(scenario: str = "loan", verbose: bool = True) -> ComplianceResults:
    """Loads the ``loan`` sample and evaluates the quickstart policy on it
    inside a ``monitor`` block: class balance, and disparate impact across
    personal status and sex (``Attribute9``) and across age (under 25 or
    not, ``Attribute13``). The same three checks as the SDK's quickstart;
    the policy is ``venturalitica/data/loan_quickstart.yaml``. Returns the
    results (printed when ``verbose``); a failed control is a result, not
    an exception.
    """
    if scenario not in SAMPLES:
        raise ValueError(f"no quickstart {scenario!r}; available: {', '.join(SAMPLES)}")
    df = load_sample(scenario, verbose=verbose)
    with monitor(f"quickstart_{scenario}"):
        results = enforce(
            data=df,
            policy=_data_file("loan_quickstart.yaml"),
            target="class",
            gender="Attribute9",
            age="Attribute13",
            strict=False,
        )
    if verbose:
        print(repr(results))
    return results


def list_scenarios() -> dict[str, str]:
    """The quickstart scenarios, name to description."""
    return dict(SAMPLES)


def show_code(scenario: str = "loan") -> None:
    """Prints where the scenario's code is: the SDK samples' ``00_minimal.py``,
    whose calls run unchanged on this package, and the policy this package's
    ``quickstart`` evaluates."""
    if scenario not in SAMPLES:
        raise ValueError(f"no scenario {scenario!r}; available: {', '.join(SAMPLES)}")
    print(
        f"Code for {scenario}: see 00_minimal.py in the venturalitica-sdk-samples repository; "
        f"the policy quickstart({scenario!r}) evaluates is {_data_file('loan_quickstart.yaml')}"
    )


def retain(results):
    """Returns ``results`` unchanged.

    In the SDK, ``retain`` marks which results a later ``vl push`` uploads.
    Here every evaluation is already kept in the tamper-evident trail
    (``.venturalitica/trace.jsonl``) and exported as it is, so there is no
    separate set to mark; the call exists so SDK scripts run unchanged.
    """
    if not isinstance(results, (ComplianceResults, PolicyResults, list, tuple)):
        raise TypeError(f"retain() takes the results of enforce(), not {type(results).__name__}")
    return results


# The model methods a wrapper audits.
_AUDITED = ("fit", "predict", "predict_proba")


class AssuranceWrapper:
    """A model whose ``fit``, ``predict`` and ``predict_proba`` also run
    ``enforce``; everything else goes to the model.

    ``fit``: the policy is evaluated on the training frame (``audit_data=``,
    else the first pandas DataFrame argument) before the model fits.
    ``predict`` / ``predict_proba``: after the model predicts, on a copy of
    the frame with the predictions in column ``prediction`` (or the one the
    ``prediction=`` keyword names). ``audit_data=`` and the policy's
    variables (``target="class"``, ``gender="Attribute9"``: every name the
    policy's controls read, and ``target`` and ``prediction``) are the
    audit's and never reach the model, even one whose method takes
    ``**kwargs`` (scikit-learn's ``Pipeline.fit`` would hand them to its
    steps); a keyword the method names goes to the model; through its
    ``**kwargs``, anything but a string (a string names a column, for the
    audit); the rest is the audit's mapping. Inside an active MLflow or W&B run
    the policy files are logged to it once, as ``policy_snapshot``
    artifacts, as the SDK's ``wrap`` does. The latest results are in
    ``last_audit_results``. A blocking control that fails raises
    :class:`ComplianceBlockError`, as ``enforce`` does; a control that
    cannot be evaluated is an ``error`` result.
    """

    def __init__(self, model: Any, policy: PolicySpec | list[PolicySpec] | None = None):
        self._venturalitica_model = model
        self._venturalitica_policy = policy
        self.last_audit_results: ComplianceResults | PolicyResults | None = None
        self._bind_audited()

    def _bind_audited(self) -> None:
        """The model's fit/predict/predict_proba, audited, as this wrapper's."""
        model = self._venturalitica_model
        for name in _AUDITED:
            if hasattr(model, name):
                setattr(self, name, self._audited(name, getattr(model, name)))

    def __getattr__(self, name: str) -> Any:
        # Reached only for names the wrapper lacks. A wrapper made without
        # __init__ (copy, pickle, AssuranceWrapper.__new__) has no model yet:
        # looking it up here would recurse.
        try:
            model = self.__dict__["_venturalitica_model"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(model, name)

    # copy and pickle keep the wrapper's own state. Before Python 3.11
    # `object` has no __getstate__, so without these the lookup reached
    # __getattr__ and copied the model's state instead of the wrapper's.
    # The audited methods are closures over this wrapper and its model's
    # bound methods: pickle cannot store them, and a copy must audit with
    # its own model; they are made again on load. So is the policy
    # snapshot: a loaded wrapper logs its policies to its new run.
    def __getstate__(self) -> dict[str, Any]:
        transient = {*_AUDITED, "_venturalitica_snapshot"}
        return {k: v for k, v in self.__dict__.items() if k not in transient}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_venturalitica_model" in state:
            self._bind_audited()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._venturalitica_model(*args, **kwargs)

    def _policies(self) -> list[Any]:
        policy = self._venturalitica_policy
        if policy is None:
            return []
        return list(policy) if isinstance(policy, (list, tuple)) else [policy]

    def _variables(self) -> frozenset[str]:
        """The names the policy's controls read, and ``target`` and
        ``prediction``: keywords that belong to the audit."""
        cached = self.__dict__.get("_venturalitica_variables")
        if cached is not None:
            return cached
        names = {"target", "prediction"}
        for policy in self._policies():
            try:
                controls = OSCALPolicyLoader(policy).load().controls
            except Exception:  # noqa: BLE001 - enforce reports a bad policy
                continue
            for control in controls:
                for value in control.input_mapping.values():
                    names.update(value if isinstance(value, list) else [value])
        self._venturalitica_variables = frozenset(names)
        return self._venturalitica_variables

    def _audit(self, data: Any, mapping: dict) -> None:
        if data is None or self._venturalitica_policy is None:
            return
        if not self.__dict__.get("_venturalitica_snapshot"):
            self._venturalitica_snapshot = True
            _trackers.log_policies([policy_file(p) for p in self._policies()])
        self.last_audit_results = enforce(data=data, policy=self._venturalitica_policy, strict=False, **mapping)

    def _audited(self, name: str, method: Any):
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            params = {}
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

        @functools.wraps(method)
        def audited(*args: Any, **kwargs: Any) -> Any:
            audit_data = kwargs.pop("audit_data", None)
            variables = self._variables()
            model_kwargs = {k: v for k, v in kwargs.items() if _for_model(k, v, variables, params, takes_any)}
            mapping = {k: v for k, v in kwargs.items() if k not in model_kwargs}
            data = audit_data if audit_data is not None else _first_frame(args, model_kwargs)
            if name == "fit":
                self._audit(data, mapping)
                return method(*args, **model_kwargs)
            result = method(*args, **model_kwargs)
            if data is not None:
                column = mapping.setdefault("prediction", "prediction")
                scored = data.copy()
                scored[column] = result if name == "predict" else _positive_scores(result)
                self._audit(scored, mapping)
            return result

        return audited


def _for_model(key: str, value: Any, variables: frozenset[str], params: Mapping, takes_any: bool) -> bool:
    """Whether a keyword goes to the model's method: never a policy
    variable; a keyword the method names, yes; through its ``**kwargs``,
    anything but a string, which names a column for the audit (the SDK
    keeps every keyword the method does not name; a ``Pipeline`` would
    hand ``age_group="age_group"`` to its steps and refuse it)."""
    if key in variables:
        return False
    if key in params:
        return True
    return takes_any and not isinstance(value, str)


def _first_frame(args: tuple, kwargs: dict) -> Any:
    try:
        import pandas as pd
    except ImportError:
        return None
    for value in (*args, *kwargs.values()):
        if isinstance(value, pd.DataFrame):
            return value
    return None


def _positive_scores(proba: Any) -> Any:
    """``predict_proba`` gives one column per class: the positive class's."""
    shape = getattr(proba, "shape", ())
    return proba[:, -1] if len(shape) == 2 else proba


def wrap(model: Any, policy: PolicySpec | list[PolicySpec] | None = None) -> AssuranceWrapper:
    """Wraps ``model`` so that ``fit`` and ``predict`` are audited against
    ``policy`` (see :class:`AssuranceWrapper`). Inside an active MLflow or
    W&B run the audits and the policy files are logged to it, as the SDK's
    are; unlike the SDK, it records no AST of the calling script. Every
    audit is in the evidence trail."""
    return AssuranceWrapper(model, policy)


class PolicyManager:
    """Keeps a project's policy in ``<target_dir>/model_policy.oscal.yaml``,
    as the SDK does: ``load``, ``save``, ``validate``.

    ``save`` writes JSON (which is YAML, so every reader takes it) and
    refuses a policy the engine would reject. ``validate`` asks the engine,
    so its messages are the ones ``enforce`` would give, with lines and
    columns; the SDK's checks only looked for missing fields.
    """

    FILE = "model_policy.oscal.yaml"

    def __init__(self, target_dir: str):
        self.target_dir = Path(target_dir)
        self.policy_path = self.target_dir / self.FILE

    def load(self) -> dict[str, Any]:
        if not self.policy_path.exists():
            return {"title": "New Policy", "controls": []}
        text = self.policy_path.read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            try:
                import yaml
            except ImportError as e:
                raise ImportError(f"{self.policy_path} is YAML: pip install pyyaml to load it as a dict") from e
            data = yaml.safe_load(text) or {}
        if isinstance(data, list):
            data = {"title": "Legacy Policy", "controls": data}
        return data

    def validate(self, data: Mapping[str, Any]) -> list[str]:
        """The engine's objections to ``data``, empty when it loads."""
        errors = []
        if not data.get("title") and not data.get("metadata", {}).get("title"):
            errors.append("Missing 'title'")
        from ._bridge import agent

        try:
            from .api import policy_file

            agent().request("columns", policy=policy_file(dict(data)), mapping={}, columns=[])
        except PolicyError as e:
            errors.append(str(e))
        return errors

    def save(self, data: Mapping[str, Any]) -> bool:
        errors = self.validate(data)
        if errors:
            raise ValueError("the policy is not valid: " + "; ".join(errors))
        self.target_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.policy_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(data), indent=2) + "\n")
        tmp.replace(self.policy_path)
        return True

    @staticmethod
    def get_schema() -> dict[str, Any]:
        """:data:`POLICY_SCHEMA` (the same object, as in the SDK)."""
        return POLICY_SCHEMA


# The JSON schema of the simple form PolicyManager edits: a title and a list
# of controls (the SDK's `venturalitica.policy.POLICY_SCHEMA`, same title).
POLICY_SCHEMA: dict[str, Any] = {
    "title": "Venturalitica Simplified OSCAL Policy",
    "type": "object",
    "required": ["title", "controls"],
    "properties": {
        "title": {"type": "string"},
        "controls": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "metric_key", "operator", "threshold"],
                "properties": {
                    "id": {"type": "string"},
                    "description": {"type": "string"},
                    "metric_key": {"type": "string"},
                    "operator": {"type": "string"},
                    "threshold": {"type": ["number", "string"]},
                    "severity": {"type": "string"},
                },
            },
        },
    },
}


__all__ = ["POLICY_SCHEMA", "AssuranceWrapper", "PolicyManager", "load_sample", "quickstart", "retain", "wrap"]
