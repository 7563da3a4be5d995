"""The JSON schemas in schemas/ are generated from the agent's vocabulary
(agent/vocab; `cargo test -p venturalitica-vocab` fails when they drift).
Here: what every writer puts in the trail, what the Python package returns
and the fixtures the TypeScript tests read all validate against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from kernel_env import run_cell

REPO = Path(__file__).resolve().parent.parent
RESULTS = json.loads((REPO / "schemas" / "results.schema.json").read_text())
EVENT = json.loads((REPO / "schemas" / "event.schema.json").read_text())
FIXTURES = REPO / "labextension" / "test" / "fixtures"
POLICY = """
controls:
  - id: di
    metric_key: disparate_impact
    operator: '>='
    threshold: 0.8
    input.target: y
    input.dimension: g
"""


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_every_event_a_kernel_and_the_cli_write_is_of_its_kinds_shape(kernel_env):
    project = kernel_env.project
    (project / "p.yaml").write_text(POLICY)
    (project / "d.csv").write_text("y,g\n" + "".join(f"{i % 2},{'ab'[i % 3 == 0]}\n" for i in range(60)))
    with kernel_env.kernel() as (_, kc):
        code = (
            "import pandas as pd, venturalitica as vl\n"
            "r = vl.enforce(data=pd.read_csv('d.csv'), policy='p.yaml')\n"
            "with vl.monitor('fit'):\n    sum(range(10**5))\n"
        )
        reply, _ = run_cell(kc, code)
        assert reply["content"]["status"] == "ok", reply["content"]
        run_cell(kc, "1 / 0")
    policy, data = project / "p.yaml", project / "d.csv"
    # A failing control exits 1; anything else (bad input 2, a panic 101) is a crash.
    for args in (("enforce", "--policy", policy, "--data", data), ("scan",)):
        run = kernel_env.vl(*args, "--root", project, check=False)
        assert run.returncode in (0, 1), (args[0], run.returncode, run.stderr)
    kernel_env.vl("monitor", "--root", project, "--name", "cmd", "--", "true")
    events = kernel_env.events()
    kinds = sorted({e["kind"] for e in events})
    assert kinds == ["cell", "enforce", "monitor", "scan"], kinds
    validator = _validator(EVENT)
    for event in events:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(event)]
        assert not errors, (event["kind"], errors)
    results = _validator(RESULTS)
    for event in kernel_env.events("enforce"):
        results.validate(event["payload"]["results"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e["payload"]["results"]["controls"][0].update(status="maybe"),
        lambda e: e["payload"].pop("results"),
        lambda e: e.update(kind="cells"),
        lambda e: e["payload"]["results"]["policy"].update(sha256="not a digest"),
    ],
    ids=["unknown status", "no results", "unknown kind", "bad digest"],
)
def test_the_event_schema_refuses_what_no_reader_would_take(mutate):
    event = {
        "kind": "enforce",
        "ts": "2026-12-06T00:00:00.000Z",
        "pid": 1,
        "tool": "venturalitica 0",
        "payload": {"origin": "cli", "results": json.loads((FIXTURES / "results.json").read_text())},
    }
    validator = _validator(EVENT)
    validator.validate(event)
    mutate(event)
    assert not validator.is_valid(event)


def test_the_typescript_fixtures_are_what_the_agent_writes():
    _validator(RESULTS).validate(json.loads((FIXTURES / "results.json").read_text()))
    cell = json.loads((FIXTURES / "cell-payload.json").read_text())
    event = {"kind": "cell", "ts": cell["end"], "pid": 1, "tool": "venturalitica 0", "payload": cell}
    _validator(EVENT).validate(event)
