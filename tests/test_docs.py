"""The documentation site: ``mkdocs build --strict`` passes (and fails on a page missing
from the navigation or a broken link), every alarm of the catalog has its runbook section
and its description links there, the runbooks name only commands that exist, and the
performance page is generated from ``results.json``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.catalog import ALARMS, RUNBOOKS_PATH, Deployment, alarm_description

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / RUNBOOKS_PATH
PARTS = (
    "**What it means.**",
    "**Confirm.**",
    "**Usual causes.**",
    "**Recover without losing data.**",
)


def build_site(root: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``root``'s mkdocs.yml into ``site``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    built = build_site(ROOT, site)
    assert built.returncode == 0, built.stderr
    return site


def test_the_site_builds_strict_with_every_page(site):
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    for page in pages:
        built = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.is_file(), page
    runbooks = (site / "runbooks" / "index.html").read_text()
    for spec in ALARMS:
        assert f'id="{spec.name}"' in runbooks, spec.name


@pytest.mark.parametrize(
    "breakage",
    [
        ("orphan.md", "# Not in the navigation\n", "orphan.md"),
        ("index.md", "\n[gone](no-such-page.md)\n", "no-such-page.md"),
        ("index.md", "\n[gone](runbooks.md#no-such-alarm)\n", "no-such-alarm"),
    ],
    ids=["page-missing-from-nav", "broken-link", "broken-anchor"],
)
def test_a_page_missing_from_the_navigation_or_a_broken_link_fails_the_build(breakage, tmp_path):
    page, text, named = breakage
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / page).open("a") as f:
        f.write(text)
    built = build_site(tmp_path, tmp_path / "site")
    assert built.returncode != 0
    assert named in built.stderr


def runbook_sections() -> dict[str, str]:
    """``{heading: its text}`` for each ``##`` section of the runbooks page."""
    parts = re.split(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_alarm_has_a_runbook_section_and_its_description_links_to_it():
    sections = runbook_sections()
    assert set(sections) == {spec.name for spec in ALARMS}
    for spec in ALARMS:
        text = sections[spec.name]
        positions = [text.find(part) for part in PARTS]
        assert -1 not in positions and positions == sorted(positions), (spec.name, positions)
        confirm = text[positions[1] : positions[2]]
        assert re.search(r"^aws [a-z]", confirm, re.MULTILINE), spec.name
        assert re.search(r"\bae [a-z]", text), spec.name  # an aurora-events command
        for deployment, base in (
            (Deployment(), RUNBOOKS_PATH),
            (Deployment(runbook_url="https://docs.shop.example/runbooks/"), None),
        ):
            description = alarm_description(spec, deployment)
            assert len(description) <= 1024
            assert f"\nRunbook: {base or deployment.runbook_url}#{spec.name}\n" in description


def test_the_runbooks_name_only_commands_the_cli_has():
    from infra.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    text = RUNBOOKS.read_text()
    named = set(re.findall(r"\bae ([a-z]+)", text))
    assert named and named <= set(commands.choices), named - set(commands.choices)
    for command, sub in set(re.findall(r"\bae (deploy|outbox) ([a-z]+)", text)):
        (subcommands,) = [
            a for a in commands.choices[command]._actions if a.dest.endswith("command")
        ]
        assert sub in subcommands.choices, (command, sub)
    for option in set(re.findall(r"\bae outbox replay (--[a-z]+)", text)):
        assert option in {"--since", "--id", "--parked"}


def test_the_performance_page_is_generated_from_results_json(tmp_path):
    from infra.bench import page, report, updates
    from infra.bench.cold_start import ColdStartResult, FunctionColdStart
    from infra.bench.inserts import InsertResult
    from infra.bench.latency import LatencyResult

    inserts = [
        InsertResult(mode, size, 2000, seconds, calls)
        for mode, seconds, calls in (("none", 1.0, 0), ("direct", 3.0, 2000), ("outbox", 2.0, 2))
        for size in (1, 1000)
    ]
    latencies = [LatencyResult("outbox", 50, 50, 0.07, 0.1, 0.11)]
    cold = ColdStartResult(
        3, 150.0, 160.0, 2_000_000, [FunctionColdStart("notify", 220.0, 70.0, 60.0, 230.0, 9_000)]
    )
    json_path, _ = report.write(inserts, latencies, tmp_path, cold_start=cold)
    updated = [
        updates.UpdateResult(mode, size, 2000, [seconds], calls)
        for mode, seconds, calls in (("none", 1.0, 0), ("direct", 2.5, 2000), ("outbox", 1.5, 3))
        for size in (1, 1000)
    ]
    updates.write(updated, [LatencyResult("outbox UPDATE", 50, 50, 0.06, 0.09, 0.1)], tmp_path)

    page_path = tmp_path / "performance.md"
    shutil.copy(ROOT / "docs" / "performance.md", page_path)
    assert page.main(["--results", str(json_path), "--page", str(page_path)]) == 0
    written = page_path.read_text()
    machine = report.machine()
    assert re.search(r"Measured on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, on ", written)
    assert machine["platform"] in written and f"Python {machine['python']}" in written
    assert "| `direct` | 3.00× | 3.00× | 2,000 |" in written
    assert "| commit → SNS, `outbox` | 0.070 s | 0.100 s | 0.110 s |" in written
    assert "### UPDATE of 2,000 rows of a watched table" in written
    assert "| `direct` | 2.50× | 2.50× | 2,000 |" in written
    assert "| commit → SNS for an UPDATE, `outbox` | 0.060 s | 0.090 s | 0.100 s |" in written
    assert "| `notify` | 220.0 ms | +70.0 ms | 8.8 KiB |" in written
    # The hand-written text around the block stays; a second run replaces the block.
    original = (ROOT / "docs" / "performance.md").read_text()
    assert written.startswith(original[: original.index(page.BEGIN)])
    assert page.main(["--results", str(json_path), "--page", str(page_path)]) == 0
    assert page_path.read_text() == written
    assert page.main(["--results", str(tmp_path / "none.json"), "--page", str(page_path)]) == 2
