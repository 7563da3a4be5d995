"""Policy texts shared by the tests: one disparate-impact control on `g` / `y`."""

DI_POLICY = """\
- id: gender-di
  metric_key: disparate_impact
  operator: ">="
  threshold: 0.8
  input.dimension: g
  input.target: y
  enforcement_mode: {mode}
"""
