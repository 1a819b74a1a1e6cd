"""Building the deployment zip of the functions (the ``functions`` package, sources only).

Every function ships the whole ``functions`` package: its own folder and ``common``.
Third-party dependencies (PyMySQL, Powertools) are added by the deploy step for real
AWS; boto3 is left to the Lambda runtime.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import functions

FUNCTIONS_DIR = Path(functions.__file__).resolve().parent
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same sources, same bytes: a re-deploy changes nothing


def build_functions_zip() -> bytes:
    """The ``functions`` package as zip bytes, reproducibly (sorted, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(FUNCTIONS_DIR.rglob("*.py")):
            relative = path.relative_to(FUNCTIONS_DIR.parent).as_posix()
            info = zipfile.ZipInfo(relative, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
