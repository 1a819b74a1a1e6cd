"""The release: one version (pyproject.toml's), printed by ``aurora-events --version`` and
heading the changelog; ``python -m build`` makes an sdist and a wheel that hold the SQL
files, the Alembic template and revisions, and the bootstrap scripts; the wheel installed
into a fresh virtualenv runs from outside the checkout.

The build runs once for the module (about 4 s; its isolated build environment comes from
pip's cache or the package index). The virtualenv gets the wheel alone (``--no-deps``: no
download) and finds the dependencies through a path line naming the test run's own
site-packages, after its own: a path line adds the folder without running its ``.pth``
files, so the checkout's editable install is not active there, and the test checks that
every project module is imported from the wheel.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from infra.catalog import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def data_files() -> set[str]:
    """What the wheel must hold besides Python modules, as paths inside it."""
    patterns = ("sql/**/*.sql", "migrations/versions/*.py", "infra/bootstrap/*.sh")
    found = {str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern)}
    return found | {"migrations/script.py.mako", "migrations/env.py"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """``python -m build``'s sdist and wheel (the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel; its ``bin`` folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + [str(built[1])],
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def run_installed(bin_dir: Path, *argv: str, cwd: Path) -> str:
    """Run a program of the virtualenv from ``cwd`` (outside the checkout); its stdout."""
    done = subprocess.run(
        [str(bin_dir / argv[0]), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_wheel_and_the_sdist_hold_the_sql_the_alembic_files_and_the_scripts(built):
    sdist, wheel = built
    assert wheel.name == f"aurora_events-{VERSION}-py3-none-any.whl"
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    wanted = data_files()
    assert len([name for name in wanted if name.endswith(".sql")]) > 50
    assert wanted <= in_wheel, sorted(wanted - in_wheel)
    assert not [name for name in in_wheel if name.startswith("tests/")]
    entry_points = zipfile.ZipFile(wheel).read(
        f"aurora_events-{VERSION}.dist-info/entry_points.txt"
    )
    assert "aurora-events = infra.cli:main" in entry_points.decode()

    top = f"aurora_events-{VERSION}/"
    with tarfile.open(sdist) as archive:
        in_sdist = {name.removeprefix(top) for name in archive.getnames()}
    assert wanted | {"alembic.ini", "CHANGELOG.md", "pyproject.toml", "README.md"} <= in_sdist


def test_the_installed_wheel_runs_outside_the_checkout(installed, tmp_path):
    assert run_installed(installed, "aurora-events", "--version", cwd=tmp_path).strip() == (
        f"aurora-events {VERSION}"
    )
    table = run_installed(installed, "aurora-events", "functions", cwd=tmp_path)
    for spec in FUNCTIONS:
        assert re.search(rf"^{spec.name}\b", table, re.MULTILINE), table

    # Every project module comes from the wheel, and its data files are found there: the
    # SQL loader's folder, and the migrations' head as the local stack runs them.
    probe = (
        "import functions, infra, migrations, sql\n"
        "from alembic.script import ScriptDirectory\n"
        "from infra.local.stack import alembic_config\n"
        "from infra.version import version\n"
        "print(*(m.__file__ for m in (functions, infra, migrations, sql)))\n"
        "print(len(list(sql.SQL_DIR.rglob('*.sql'))))\n"
        "print(ScriptDirectory.from_config(alembic_config()).get_current_head())\n"
        "print(version())\n"
    )
    files, sql_files, head, version = run_installed(
        installed, "python", "-c", probe, cwd=tmp_path
    ).splitlines()
    venv = installed.parent.resolve()
    assert all(Path(f).resolve().is_relative_to(venv) for f in files.split()), files
    assert int(sql_files) == len(list((ROOT / "sql").rglob("*.sql")))
    newest = sorted((ROOT / "migrations" / "versions").glob("0*.py"))[-1].name
    assert newest.startswith(head), (head, newest)
    assert version == VERSION


def test_the_version_is_pyprojects_and_heads_the_changelog(capsys):
    from infra.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"aurora-events {VERSION}"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert released and released[0] == VERSION, released
    assert "## [Unreleased]" in changelog


def test_the_wheel_s_runtime_requirements_leave_moto_to_the_local_extra(built):
    metadata = zipfile.ZipFile(built[1]).read(f"aurora_events-{VERSION}.dist-info/METADATA")
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    runtime = [r for r in requires if "extra ==" not in r]
    assert runtime and not [r for r in runtime if r.startswith("moto")], runtime
    assert [r for r in requires if r.startswith("moto")] == [
        'moto[server]<6,>=5.0.20; extra == "local"'
    ]
    assert 'aurora-events[local]; extra == "dev"' in requires


# Runs the commands a deployment uses in one interpreter of the wheel's virtualenv, with
# moto unimportable (as after `pip install .` without extras): each exit code on a line,
# then whether any moto module was loaded.
WITHOUT_MOTO = """
import sys
sys.modules["moto"] = None  # `import moto` raises ImportError, as when it is not installed
from infra.cli import main
for command in sys.argv[1:]:
    print(main(command.split()), flush=True)
print(sorted(name for name in sys.modules if name.startswith("moto.")))
"""


def test_deploy_aurora_grant_and_doctor_run_without_moto(installed, migrated_stack, tmp_path):
    stack = migrated_stack
    commands = [
        "deploy plan --only queues --only event-sources",
        "aurora plan",
        "grant --user app --host %",
        "doctor",
    ]
    done = subprocess.run(
        [str(installed / "python"), "-c", WITHOUT_MOTO, *commands],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        # The stack's settings, as `eval "$(aurora-events stack env)"` gives them.
        env={"PATH": f"{installed}:/usr/bin:/bin", "HOME": str(tmp_path), **stack.environment()},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    codes = [line for line in lines if line in ("0", "1", "2")]
    assert codes == ["0"] * len(commands), done.stdout + done.stderr
    assert lines[-1] == "[]"
    assert "no changes: everything is as declared" in done.stdout  # aurora plan
    assert "every link checked is in place" in done.stdout  # doctor
