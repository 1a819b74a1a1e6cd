"""Building the deployment zip: the ``functions`` package, and its third-party libraries.

Every function ships the whole ``functions`` package (its own folder and ``common``) and
the ``sql`` package, whose templates the drain renders (the SQL has one home).
PyMySQL and Powertools are vendored at the versions installed here, so what the tests
ran is what ships; boto3 is left to the Lambda runtime. The zip is reproducible (sorted
entries, fixed timestamps): the same sources give the same bytes, so a re-deploy of
unchanged code is no change.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import functions

FUNCTIONS_DIR = Path(functions.__file__).resolve().parent
REPO_ROOT = FUNCTIONS_DIR.parent
# What the handlers import from this repository: packages and the data files they read.
PACKAGED = (("functions", "*.py"), ("sql", "*.py"), ("sql", "*.sql"))
VENDORED = ("pymysql", "aws-lambda-powertools")
LAMBDA_PYTHON = "3.11"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class PackagingError(RuntimeError):
    """The dependencies could not be fetched."""


def pinned_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in VENDORED]


def vendor_dir(cache: Path | None = None) -> Path:
    """A directory with the vendored libraries, installed once per set of versions."""
    requirements = pinned_requirements()
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    target = (cache or REPO_ROOT / "build" / "lambda-deps") / key
    if (target / ".complete").is_file():
        return target
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(target),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--platform",
            "manylinux2014_x86_64",
            *requirements,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PackagingError(f"pip could not fetch {requirements}: {result.stderr[-2000:]}")
    (target / ".complete").write_text("\n".join(requirements))
    return target


def build_functions_zip(with_dependencies: bool = True, cache: Path | None = None) -> bytes:
    """The deployment package as zip bytes."""
    files: dict[str, Path] = {
        path.relative_to(REPO_ROOT).as_posix(): path
        for folder, pattern in PACKAGED
        for path in (REPO_ROOT / folder).rglob(pattern)
    }
    if with_dependencies:
        vendored = vendor_dir(cache)
        for path in vendored.rglob("*"):
            relative = path.relative_to(vendored).as_posix()
            if (
                path.is_file()
                and "__pycache__" not in relative
                and not relative.startswith(("bin/", ".complete"))
            ):
                files[relative] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name].read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
