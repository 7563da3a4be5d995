#!/usr/bin/env bash
# The main job: builds the agent, fetches the German Credit data, audits it
# with the loan tutorial's data policy, runs the tutorial's three notebooks
# through the proxied kernel (per-cell timing and energy recorded), scans
# the project (BOM, latest results, OSCAL), verifies the evidence trail and
# serves the dashboard over it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_venv
ensure_credit_data
build_agent
build_labextension
install_package

WORK=${VL_DEMO_DIR:-$REPO/demo-output}
mkdir -p "$WORK/data"
# Marks the demo folder as the project root and declares what it uses.
printf '[project]\nname = "loan-credit-scoring"\nversion = "0.1.0"\ndependencies = ["pandas", "scikit-learn"]\n' \
  > "$WORK/pyproject.toml"
cp "$REPO/notebooks/data_policy.yaml" "$REPO"/notebooks/level*.ipynb "$WORK/"
cp "$VL_CREDIT_CSV" "$WORK/data/german_credit.csv"

step "venturalitica enforce: the raw data against the loan data policy"
set +e
(cd "$WORK" && "$VL_BIN" enforce --data "$VL_CREDIT_CSV" --policy data_policy.yaml \
   --target class gender=gender age=age --junit junit.xml)
code=$?
set -e
echo "(exit code $code: 0 = every control passed, 1 = a control failed)"

step "The tutorial notebooks through the proxied kernel (venturalitica kernel install)"
export JUPYTER_PATH=$WORK/jupyter/share/jupyter JUPYTER_RUNTIME_DIR=$WORK/jupyter/runtime VENTURALITICA_PYTHON=$PY
"$VL_BIN" kernel install --prefix "$WORK/jupyter"
for level in level1_data_audit level2_model_audit level3_auditor; do
  echo "-- $level"
  "$PY" "$REPO/scripts/run_notebook.py" "$WORK/$level.ipynb" venturalitica-python3 "$WORK"
done

step "venturalitica scan: bill of materials and the latest result of every control"
set +e
(cd "$WORK" && "$VL_BIN" scan --junit scan.xml)
echo "(exit code $?: 1 = the latest result of a blocking control failed)"
set -e

step "venturalitica verify: the evidence trail"
(cd "$WORK" && "$VL_BIN" verify)

echo
echo "Evidence: $WORK/.venturalitica/ (trace.jsonl, policies/, bom.json, assessment-results.json, trace_latest.json)"
echo "JUnit: $WORK/junit.xml (enforce), $WORK/scan.xml (scan)"
echo "Executed notebooks (with their badges and per-cell metadata): $WORK/level*.ipynb"
echo "Open them in JupyterLab with the extension and the proxied kernel:"
echo "  JUPYTER_PATH=$JUPYTER_PATH $VENV/bin/jupyter lab --ip 127.0.0.1 $WORK"

# The dashboard over what the run wrote, until Ctrl-C (VL_DEMO_UI=0 skips it).
if [[ ${VL_DEMO_UI:-1} != 0 ]]; then
  step "venturalitica ui: the dashboard (Ctrl-C to stop)"
  "$VL_BIN" ui --root "$WORK" --port "${VL_DEMO_PORT:-8501}"
fi
