#!/usr/bin/env bash
# The main job: builds the agent, fetches the German Credit data, audits it
# with the loan tutorial's data policy, and verifies the evidence trail.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_venv
ensure_credit_data
build_agent

WORK=${VL_DEMO_DIR:-$REPO/demo-output}
mkdir -p "$WORK"
touch "$WORK/pyproject.toml"   # marks the demo folder as the project root
cp "$REPO/examples/loan/data_policy.yaml" "$WORK/"

step "venturalitica enforce: the raw data against the loan data policy"
set +e
(cd "$WORK" && "$VL_BIN" enforce --data "$VL_CREDIT_CSV" --policy data_policy.yaml \
   --target class gender=gender age=age --junit junit.xml)
code=$?
set -e
echo "(exit code $code: 0 = every control passed, 1 = a control failed)"

step "venturalitica verify: the evidence trail"
(cd "$WORK" && "$VL_BIN" verify)

echo
echo "Evidence: $WORK/.venturalitica/ (trace.jsonl, policies/, trace_latest.json); JUnit: $WORK/junit.xml"
