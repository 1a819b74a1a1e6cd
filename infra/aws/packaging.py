"""Building what Lambda runs: one small zip per function, and the dependencies layer.

**A function's zip** holds only this repository's code that its handler reaches: the
modules it imports, followed import by import from the handler (lazy imports inside
functions included), with their packages' ``__init__.py``; and, when it imports the
``sql`` package, the SQL files its modules name (a whole string constant such as
``"outbox/claim_due.sql"``: the SQL has one home, and a function ships only what it
reads). So a change to the relay's code changes the relay's zip, not notify's.

**The layer** (``python/`` inside, as Lambda's Python runtimes expect) holds the
third-party libraries at the versions installed here, so what the tests ran is what
ships: PyMySQL and Powertools, or only PyMySQL when the deployment uses AWS's public
Powertools layer. boto3 and botocore are left to the Lambda runtime. Any other
third-party import is a :class:`PackagingError`: nothing would provide it on Lambda.
Built by Lambda's Python version (3.11), it also holds the libraries' bytecode: ``/opt``
is read-only on Lambda, so Python cannot keep what it compiles there, and without it
every cold start compiles every library module it imports (typing_extensions alone,
which Powertools imports, costs tens of milliseconds).

Both are reproducible (sorted entries, fixed timestamps and modes): the same sources
give the same bytes, so an unchanged re-deploy is no change. A layer is identified by
:func:`layer_content_hash` (its sources; its bytecode by interpreter).
"""

from __future__ import annotations

import ast
import base64
import compileall
import hashlib
import io
import py_compile
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import functions

FUNCTIONS_DIR = Path(functions.__file__).resolve().parent
REPO_ROOT = FUNCTIONS_DIR.parent
# This repository's packages a handler may import; everything else is a library.
LOCAL_PACKAGES = ("functions", "sql")
SQL_PACKAGE = "sql"
# A string constant that names a SQL file under sql/ (a whole constant, not a mention).
_SQL_FILE_NAME = re.compile(r"[a-z0-9_]+(?:/[a-z0-9_]+)*\.sql")
# What the Lambda Python runtime provides (boto3 and the libraries it brings).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil"})
# The layer's libraries: import name -> distribution.
PYMYSQL, POWERTOOLS = "pymysql", "aws_lambda_powertools"
LAYER_DISTRIBUTIONS = {PYMYSQL: "pymysql", POWERTOOLS: "aws-lambda-powertools"}
LAYER_ROOT = "python"
LAMBDA_PYTHON = "3.11"
# The bytecode Lambda's interpreter reads (only that version of Python writes it).
PYC_TAG = "cpython-" + LAMBDA_PYTHON.replace(".", "")
LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON}"
LAMBDA_ARCHITECTURE = "x86_64"
LAMBDA_PLATFORM = f"manylinux2014_{LAMBDA_ARCHITECTURE}"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class PackagingError(RuntimeError):
    """A package cannot be built: the message says what is missing."""


class IndexUnreachable(PackagingError):
    """pip could not reach a package index (offline, name resolution, proxy, timeout): the
    layer cannot be fetched now, through no fault of what it holds."""


# What pip's output holds when it could not connect to an index: its retry warnings
# ("Retrying (...) after connection broken by 'NewConnectionError(...)'") and the errors
# of urllib3, the HTTP library it uses.
_UNREACHABLE_MARKERS = (
    "connection broken by",
    "Max retries exceeded",
    "NewConnectionError",
    "NameResolutionError",
    "ConnectTimeoutError",
    "ProxyError",
)


def index_unreachable(pip_output: str) -> bool:
    """True when a failed pip run's output says it could not connect to an index (then the
    failure says nothing about the requirements)."""
    return any(marker in pip_output for marker in _UNREACHABLE_MARKERS)


# -- what a handler imports --------------------------------------------------------------


@dataclass(frozen=True)
class FunctionContents:
    """What one function's zip holds, as paths relative to the repository root, and the
    libraries (top-level import names) its code imports beyond the standard library."""

    files: tuple[str, ...]
    libraries: frozenset[str]

    def layer_libraries(self) -> frozenset[str]:
        """The libraries a layer must give it (the runtime gives boto3's)."""
        return self.libraries - RUNTIME_PROVIDED


def handler_module(handler: str) -> str:
    """``functions.notify.handler.handler`` -> ``functions.notify.handler``."""
    return handler.rsplit(".", 1)[0]


def function_contents(handler: str, root: Path | None = None) -> FunctionContents:
    """Follow the imports from ``handler``'s module through this repository's packages."""
    root = root or REPO_ROOT
    pending = [handler_module(handler)]
    modules: dict[str, Path] = {}
    libraries: set[str] = set()
    while pending:
        name = pending.pop()
        if name in modules:
            continue
        path = module_path(name, root)
        if path is None:
            raise PackagingError(f"module {name} (imported by {handler}) is not in {root}")
        modules[name] = path
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = name.split(".")
        pending += [".".join(parts[:end]) for end in range(1, len(parts))]
        for imported in imported_names(path, name, is_package=path.name == "__init__.py"):
            top = imported.split(".", 1)[0]
            if top in LOCAL_PACKAGES:
                # "from a import b" names either a submodule or an attribute of a.
                submodule = module_path(imported, root) is not None
                pending.append(imported if submodule else imported.rsplit(".", 1)[0])
            elif top not in sys.stdlib_module_names:
                libraries.add(top)
    files = {path.relative_to(root).as_posix() for path in modules.values()}
    if SQL_PACKAGE in modules:
        files |= {f"{SQL_PACKAGE}/{name}" for name in sql_files_named(modules.values(), root)}
    return FunctionContents(tuple(sorted(files)), frozenset(libraries))


def module_path(name: str, root: Path) -> Path | None:
    """The file of module ``name`` under ``root`` (a module, or a package's __init__)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, module: str, is_package: bool) -> Iterable[str]:
    """Every module name ``path`` imports, anywhere in it; ``from a import b`` gives
    ``a.b`` (a submodule or an attribute: the caller tells which)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def sql_files_named(paths: Iterable[Path], root: Path) -> set[str]:
    """The SQL files (relative to ``sql/``) named by whole string constants in ``paths``;
    a :class:`PackagingError` for one that does not exist (it would fail on Lambda)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if not (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _SQL_FILE_NAME.fullmatch(node.value)
            ):
                continue
            if not (root / SQL_PACKAGE / node.value).is_file():
                raise PackagingError(
                    f"{path.relative_to(root)} names SQL file {node.value!r}, "
                    f"which is not under {SQL_PACKAGE}/"
                )
            names.add(node.value)
    return names


# -- the zips ----------------------------------------------------------------------------


def reproducible_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of ``{name: content}``: sorted, fixed timestamps and modes, so equal input
    gives equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def build_function_zip(handler: str, root: Path | None = None) -> bytes:
    """The deployment package of the function whose handler is ``handler``."""
    root = root or REPO_ROOT
    contents = function_contents(handler, root)
    return reproducible_zip({name: (root / name).read_bytes() for name in contents.files})


def lambda_code_sha256(data: bytes) -> str:
    """Lambda's ``CodeSha256`` of a zip: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def pinned_requirements(libraries: Iterable[str]) -> list[str]:
    """``dist==version`` for each layer library (import name), at the installed version."""
    unknown = sorted(set(libraries) - set(LAYER_DISTRIBUTIONS))
    if unknown:
        raise PackagingError(f"no layer provides {', '.join(unknown)}")
    return [
        f"{LAYER_DISTRIBUTIONS[name]}=={version(LAYER_DISTRIBUTIONS[name])}"
        for name in sorted(libraries)
    ]


def compiles_for_lambda() -> bool:
    """Whether this interpreter writes the bytecode Lambda's reads."""
    return sys.implementation.cache_tag == PYC_TAG


def vendor_key(requirements: list[str], compiled: bool) -> str:
    """What identifies a fetch: the requirements and whether it holds Lambda's bytecode."""
    return "\n".join([*requirements, f"bytecode {PYC_TAG if compiled else 'none'}"])


def vendor_target(requirements: list[str], cache: Path | None, compiled: bool) -> Path:
    """Where :func:`vendor_dir` keeps a fetch: under ``cache`` (the repository's
    ``build/lambda-deps`` by default), one directory per :func:`vendor_key`."""
    key = hashlib.sha256(vendor_key(requirements, compiled).encode()).hexdigest()[:16]
    return (cache or REPO_ROOT / "build" / "lambda-deps") / key


def vendor_dir(requirements: list[str], cache: Path | None = None) -> Path:
    """A directory with ``requirements`` installed for Lambda's Python and platform (with
    their bytecode when this is Lambda's Python), once per set of versions. A failed fetch
    is :class:`IndexUnreachable` when pip could not reach an index, else
    :class:`PackagingError`."""
    compiled = compiles_for_lambda()
    key_text = vendor_key(requirements, compiled)
    target = vendor_target(requirements, cache, compiled)
    if (target / ".complete").is_file():
        return target
    if target.exists():
        # An interrupted fetch: pip --target would leave the packages it finds in place.
        shutil.rmtree(target)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",  # compile_bytecode below: hash-based, not timestamps
            "--target",
            str(target),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--platform",
            LAMBDA_PLATFORM,
            *requirements,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        error = IndexUnreachable if index_unreachable(result.stderr) else PackagingError
        raise error(f"pip could not fetch {requirements}: {result.stderr[-2000:]}")
    if compiled:
        compile_bytecode(target)
    (target / ".complete").write_text(key_text)
    return target


def compile_bytecode(directory: Path) -> None:
    """A ``.pyc`` beside every module, unchecked: the layer never changes under it, and a
    checked one would read and hash its source at every import. A module that does not
    compile (written for another Python) is left to compile on Lambda, as without this."""
    compileall.compile_dir(
        str(directory),
        quiet=2,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


@dataclass(frozen=True)
class LayerPackage:
    """The layer's zip, and the hash that identifies its content."""

    zip: bytes
    content_hash: str


def layer_content_hash(files: Mapping[str, bytes]) -> str:
    """What identifies a layer's content: its files' names and bytes, the bytecode but by
    interpreter tag (it follows from the sources; its bytes need not be equal from one
    machine to the next)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        if not name.endswith(".pyc"):
            digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    tags = sorted({name.rsplit(".", 2)[-2] for name in files if name.endswith(".pyc")})
    digest.update(("bytecode " + " ".join(tags)).encode())
    return digest.hexdigest()


def build_layer(
    libraries: Iterable[str],
    cache: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> LayerPackage:
    """The dependencies layer holding ``libraries`` (import names) and what they need,
    under ``python/``; and ``extra_files`` (layer path: bytes, found under ``/opt/``)."""
    vendored = vendor_dir(pinned_requirements(libraries), cache)
    files = dict(extra_files or {})
    for path in vendored.rglob("*"):
        relative = path.relative_to(vendored).as_posix()
        if not path.is_file() or relative.startswith(("bin/", ".complete")):
            continue
        if "__pycache__" in relative and not relative.endswith(f".{PYC_TAG}.pyc"):
            continue
        files[f"{LAYER_ROOT}/{relative}"] = path.read_bytes()
    return LayerPackage(reproducible_zip(files), layer_content_hash(files))
