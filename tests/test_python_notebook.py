"""The IPython extension in a notebook executed by nbclient through the
proxied kernel: %vl_enforce, %vl_mark (re-evaluated when a later cell
changes the frame), %%vl_monitor, with the agent the proxy provides."""

from __future__ import annotations

import nbformat
from kernel_env import PROXIED
from nbclient import NotebookClient
from policies import DI_POLICY

COMPLIANCE = "application/vnd.venturalitica.compliance+json"
ENERGY = "application/vnd.venturalitica.energy+json"


def _rich(cell, mime):
    shown = [o for o in cell.outputs if o.get("output_type") in ("display_data", "execute_result")]
    return [o["data"][mime] for o in shown if mime in o.get("data", {})]


def _executed(kernel_env, cells: list[str], allow_errors: bool = False) -> list:
    """The cells run as a notebook by nbclient in the proxied kernel, in the project."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(
        nb,
        kernel_name=PROXIED,
        resources={"metadata": {"path": str(kernel_env.project)}},
        timeout=120,
        allow_errors=allow_errors,
    ).execute()
    return nb.cells


def test_magics_and_marked_frames_in_a_notebook_through_the_proxy(kernel_env):
    (kernel_env.project / "policy.yaml").write_text(DI_POLICY.format(mode="monitor"))
    cells = [
        "%load_ext venturalitica\nimport pandas as pd\nfrom venturalitica import _bridge",
        'df = pd.DataFrame({"g": list("aaaabbbb"), "y": [1, 1, 1, 0, 1, 1, 1, 1]})',
        "%vl_enforce df policy=policy.yaml",
        "%vl_mark df policy=policy.yaml",
        "print('nothing changed')",
        'df.loc[df.g == "a", "y"] = 0  # the frame changes: re-evaluated after this cell',
        "%%vl_monitor training_run_v1\ntotal = sum(i * i for i in range(2_000_000))",
        "%vl_marks",
        "print(_bridge.agent().spawned, _vl_results.passed, round(_vl_monitor.energy_j, 9) > 0)",
        "%vl_enforce df policy=missing.yaml",
        "%vl_enforce df policy=missing.yaml strict=true",
    ]
    c = _executed(kernel_env, cells, allow_errors=True)

    # %vl_enforce: the custom MIME, the agent's SVG and the HTML badge.
    (first,) = _rich(c[2], COMPLIANCE)
    assert first["controls"][0]["actual_value"] == 0.75 and first["controls"][0]["status"] == "fail"
    assert _rich(c[2], "image/svg+xml")[0].startswith("<svg")
    assert "venturalitica-compliance" in _rich(c[2], "text/html")[0]

    # %vl_mark evaluates once; an unrelated cell shows nothing; the cell
    # that changes the frame shows the new result.
    assert len(_rich(c[3], COMPLIANCE)) == 1
    assert _rich(c[4], COMPLIANCE) == []
    (after,) = _rich(c[5], COMPLIANCE)
    assert after["controls"][0]["actual_value"] == 0.0
    assert after["data"]["fingerprint"] != first["data"]["fingerprint"]
    assert _rich(c[6], COMPLIANCE) == []  # the monitor cell left df alone

    (energy,) = _rich(c[6], ENERGY)
    assert energy["name"] == "training_run_v1" and energy["energy"]["total_j"] > 0
    assert "df: policy=policy.yaml -> passed" in "".join(o.get("text", "") for o in c[7].outputs)
    # Inside the proxied kernel the package talks to the proxy's agent.
    assert c[8].outputs[0]["text"].strip() == "False True True"
    # Not strict (the default), a missing policy file is a recorded error
    # result and a warning; strict, it raises.
    (unloadable,) = _rich(c[9], COMPLIANCE)
    assert unloadable["controls"][0]["status"] == "error" and not unloadable["passed"]
    assert any("missing.yaml" in o.get("text", "") for o in c[9].outputs if o["output_type"] == "stream")
    (error,) = [o for o in c[10].outputs if o["output_type"] == "error"]
    assert error["ename"] == "PolicyError" and "missing.yaml" in error["evalue"]

    enforce = kernel_env.events("enforce")
    assert [e["payload"]["origin"] for e in enforce] == ["kernel"] * 4
    assert enforce[-1]["payload"]["results"]["policy"]["shape"] == "unloadable"
    monitors = kernel_env.events("monitor")
    assert [m["payload"]["name"] for m in monitors] == ["training_run_v1"]


def test_a_kernelspec_can_load_the_extension_by_default(kernel_env):
    from kernel_env import run_cell

    name = kernel_env.install("python3", "vl-with-ext", "--load-extension")
    with kernel_env.kernel(name) as (_, kc):
        reply, outputs = run_cell(kc, "%vl_marks")
        assert reply["content"]["status"] == "ok", outputs
        assert "No marked dataframes." in "".join(m["content"].get("text", "") for m in outputs)
    fake_r = kernel_env.jupyter_path / "kernels" / "ir"
    fake_r.mkdir(parents=True)
    (fake_r / "kernel.json").write_text('{"argv": ["R", "{connection_file}"], "display_name": "R", "language": "R"}')
    refused = kernel_env.vl(
        "kernel", "install", "--wrap", "ir", "--prefix", str(kernel_env.prefix), "--load-extension", check=False
    )
    assert refused.returncode == 2 and "needs an IPython kernel" in refused.stderr


def test_drift_magics_in_a_notebook_through_the_proxy(kernel_env):
    (kernel_env.project / "drift.yaml").write_text(
        "- id: g-psi\n  metric_key: psi\n  operator: '<'\n  threshold: 0.1\n  input.feature: g\n"
    )
    cells = [
        "%load_ext venturalitica\nimport pandas as pd",
        'train = pd.DataFrame({"g": list("aaaabbbb"), "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})',
        "%vl_reference train name=train columns=g,x bins=4",
        'now = pd.DataFrame({"g": list("abbbbbbb"), "x": [1.0, 2, 3, 4, 5, 6, 7, 9]})',
        "%vl_enforce now policy=drift.yaml reference=train",
    ]
    c = _executed(kernel_env, cells)
    printed = "".join(o.get("text", "") for o in c[2].outputs)
    assert printed.startswith("reference 'train': 8 rows, 2 columns, sha256 "), printed
    (result,) = _rich(c[4], COMPLIANCE)
    control = result["controls"][0]
    assert control["status"] == "fail" and control["drift"]["drifted"] == ["g"]
    assert control["drift"]["reference"] == "train" and "moved: g" in control["reason"]
    (recorded,) = kernel_env.events("reference")
    assert recorded["payload"]["origin"] == "kernel" and recorded["payload"]["columns"] == ["g", "x"]
    assert recorded["payload"]["reference_sha256"] == control["drift"]["reference_sha256"]
