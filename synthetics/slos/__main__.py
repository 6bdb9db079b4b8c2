"""Regenerate the probe SLO rule files: ``python -m synthetics.slos``."""

from synthetics.slos import RULES_DIR, expected_rule_files

RULES_DIR.mkdir(exist_ok=True)
for path, text in expected_rule_files().items():
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
