"""The default probe SLOs: valid for the SLO engine, built on metrics the probe exports,
and compiled to rules promtool accepts (the committed rules' drift is checked with every
other golden file in tests/tidewatch/test_generate.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from contracts.metrics import MetricType
from slo.model import EventRatioSLI, LatencySLI
from slo.spec import load_files
from synthetics.catalog import PROBE_CATALOG
from synthetics.slos import SPECS
from tests.support import tools
from tidewatch.cli import cli

PROMTOOL = tools.find_tool(tools.PROMTOOL)
CATALOG = {s.name: s for s in PROBE_CATALOG}


def test_the_default_slos_cover_availability_latency_and_loss() -> None:
    slos = load_files(SPECS)
    assert [s.id for s in slos] == [
        "tidewatch-probe-produce-availability",
        "tidewatch-probe-end-to-end-latency",
        "tidewatch-probe-data-loss",
    ]


def test_every_selector_names_a_probe_metric_of_the_right_type() -> None:
    for slo in load_files(SPECS):
        sli = slo.sli
        if isinstance(sli, EventRatioSLI):
            for selector in (sli.total, sli.good, sli.bad):
                if selector is not None:
                    assert CATALOG[selector.metric].type is MetricType.COUNTER, selector.metric
        else:
            assert isinstance(sli, LatencySLI)
            spec = CATALOG[sli.histogram.metric]
            assert spec.type is MetricType.HISTOGRAM
            assert sli.threshold_seconds in spec.buckets, "the threshold must be a bucket bound"


def test_tidewatch_slo_validate_accepts_them() -> None:
    result = CliRunner().invoke(cli, ["slo", "validate", *map(str, SPECS)])
    assert result.exit_code == 0, result.output
    assert "OK: 3 SLOs" in result.output


@tools.requires(tools.PROMTOOL)
def test_tidewatch_slo_generate_output_passes_promtool_check_rules(tmp_path: Path) -> None:
    out = tmp_path / "rules.yaml"
    result = CliRunner().invoke(cli, ["slo", "generate", *map(str, SPECS), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert PROMTOOL is not None
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 60 rules found" in check.stdout
