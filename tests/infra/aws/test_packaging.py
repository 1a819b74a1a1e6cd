"""The functions' zips and the dependencies layer: what each holds, found by imports;
small; reproducible; enough to run each handler as Lambda does (package + layer + the
runtime's boto3).

The layer's libraries are fetched with pip once per set of versions and kept under the
repository's ``build/`` (ignored by git; where ``aurora-events deploy`` keeps them too),
so a run fetches only what changed. When nothing is kept yet and the package index cannot
be reached, the layer tests are skipped, saying so; any other pip failure fails them."""

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.aws import packaging
from infra.aws.packaging import (
    IndexUnreachable,
    LayerPackage,
    PackagingError,
    build_function_zip,
    build_layer,
    compiles_for_lambda,
    function_contents,
    pinned_requirements,
    vendor_dir,
    vendor_target,
)
from infra.catalog import FUNCTIONS, function_spec
from infra.local.db_server import free_port

ZIP_LIMIT = 100 * 1024
COMMON = ("functions/__init__.py", "functions/common/__init__.py", "functions/common/config.py")
ROW_EVENTS = (
    "functions/common/event_batches.py",
    "functions/common/events.py",
    "functions/common/handlers.py",
    "functions/common/ping.py",
    "functions/common/reporting.py",
)
INGEST_REQUESTS = (
    "functions/common/queue_messages.py",
    "functions/common/resources.py",
    "functions/common/sqs_text.py",
)
OUTBOX_SQL = tuple(
    f"sql/outbox/{name}.sql"
    for name in (
        "claim_due",
        "claim_due_locking",
        "claim_due_ordered",
        "claim_due_ordered_locking",
        "count_holds",
        "has_ordering_key",
        "held_behind",
        "held_up_to",
        "hold",
        "holds_seen",
        "holds_settled",
        "lease_claimed",
        "load_payloads",
        "mark_delivered",
        "park",
        "pending_status",
        "promote",
        "promote_candidates",
        "promote_held",
        "purge_delivered",
        "purgeable",
        "read_committed",
        "relay_lock",
        "relay_unlock",
        "release",
        "retry_key_later",
        "retry_later",
        "start_attempt",
        "waiting_up_to",
    )
)
EXPECTED_FILES = {
    "notify": (
        *COMMON,
        *ROW_EVENTS,
        "functions/notify/__init__.py",
        "functions/notify/batches.py",
        "functions/notify/handler.py",
        "functions/notify/messages.py",
    ),
    "email": (
        *COMMON,
        *ROW_EVENTS,
        "functions/email/__init__.py",
        "functions/email/handler.py",
        "functions/email/messages.py",
    ),
    "ingest": (
        *COMMON,
        *INGEST_REQUESTS,
        "functions/ingest/__init__.py",
        "functions/ingest/handler.py",
        "functions/ingest/requests.py",
    ),
    "drain": (
        *COMMON,
        *INGEST_REQUESTS,
        "functions/common/database.py",
        "functions/common/metric_names.py",
        "functions/drain/__init__.py",
        "functions/drain/handler.py",
        "functions/drain/metrics.py",
        "functions/drain/processor.py",
        "functions/drain/rows.py",
        "sql/__init__.py",
        "sql/ingest/insert_conflicts.sql",
        "sql/ingest/insert_rows.sql",
        "sql/ingest/list_conflicts.sql",
        "sql/ingest/recorded_conflicts.sql",
        "sql/ingest/stored_keys.sql",
    ),
    "relay": (
        *COMMON,
        "functions/common/database.py",
        "functions/common/event_batches.py",
        "functions/common/lambda_limits.py",
        "functions/common/metric_names.py",
        "functions/common/outbox_table.py",
        "functions/common/ping.py",
        "functions/relay/__init__.py",
        "functions/relay/delivery.py",
        "functions/relay/handler.py",
        "functions/relay/metrics.py",
        "functions/relay/outbox.py",
        "functions/relay/runs.py",
        "functions/relay/target_limits.py",
        "sql/__init__.py",
        *OUTBOX_SQL,
    ),
}


def names_in(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


@pytest.mark.parametrize("function", [spec.name for spec in FUNCTIONS])
def test_each_zip_holds_exactly_the_code_its_handler_imports_and_is_small(function):
    handler = function_spec(function).handler
    data = build_function_zip(handler)
    assert names_in(data) == sorted(EXPECTED_FILES[function])
    assert len(data) < ZIP_LIMIT, f"{function}: {len(data)} bytes"
    assert build_function_zip(handler) == data  # reproducible: same sources, same bytes
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert {(i.date_time, i.external_attr >> 16) for i in info} == {((2020, 1, 1, 0, 0, 0), 0o644)}


def test_the_relays_zip_holds_the_outbox_contract_and_no_operator_code():
    """The relay ships the table's contract it shares with the operator's commands, not
    those commands: neither their module nor its statements nor any of its names."""
    from infra.database import outbox_admin

    archive = zipfile.ZipFile(io.BytesIO(build_function_zip(function_spec("relay").handler)))
    names = set(archive.namelist())
    assert "functions/common/outbox_table.py" in names
    assert "infra/database/outbox_admin.py" not in names
    assert not [name for name in names if not name.startswith(("functions/", "sql/"))]
    operator_sql = {
        f"sql/{name}"
        for name in re.findall(r'"(outbox/[a-z_]+\.sql)"', Path(outbox_admin.__file__).read_text())
    }
    assert operator_sql == {
        "sql/outbox/held_keys.sql",
        "sql/outbox/parked_errors.sql",
        "sql/outbox/replay_ids.sql",
        "sql/outbox/replay_since.sql",
        "sql/outbox/status.sql",
    }
    assert not operator_sql & names
    operator_names = {
        node.name
        for node in ast.parse(Path(outbox_admin.__file__).read_text()).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    assert {"OutboxStatus", "outbox_status", "replay_events"} <= operator_names
    defined = {
        node.name
        for name in names
        if name.endswith(".py")
        for node in ast.walk(ast.parse(archive.read(name)))
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    assert not operator_names & defined


def test_what_each_function_imports_beyond_its_code_is_found():
    libraries = {spec.name: function_contents(spec.handler).libraries for spec in FUNCTIONS}
    assert libraries == {
        "notify": {"aws_lambda_powertools", "boto3", "botocore"},  # botocore: client timeouts
        "email": {"aws_lambda_powertools", "boto3", "botocore"},
        "ingest": {"aws_lambda_powertools", "boto3", "botocore"},
        "drain": {"aws_lambda_powertools", "boto3", "pymysql"},  # boto3: a lazy import
        "relay": {"aws_lambda_powertools", "boto3", "botocore", "pymysql"},
    }


@pytest.fixture
def source_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the packaged sources that the packaging reads instead of the repository's."""
    root = tmp_path / "src"
    for package in ("functions", "sql"):
        shutil.copytree(
            packaging.REPO_ROOT / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    monkeypatch.setattr(packaging, "REPO_ROOT", root)
    return root


def test_a_change_to_one_functions_code_changes_only_the_zips_that_hold_it(source_copy):
    before = {spec.name: build_function_zip(spec.handler) for spec in FUNCTIONS}
    with (source_copy / "functions/notify/messages.py").open("a") as module:
        module.write("\n# a change\n")
    with (source_copy / "functions/common/resources.py").open("a") as module:
        module.write("\n# a change\n")
    changed = {
        spec.name for spec in FUNCTIONS if build_function_zip(spec.handler) != before[spec.name]
    }
    assert changed == {"notify", "ingest", "drain"}


def test_an_import_nothing_provides_on_lambda_is_refused_by_name(source_copy):
    with (source_copy / "functions/email/messages.py").open("a") as module:
        module.write("\n\ndef later():\n    import requests  # noqa\n")
    with pytest.raises(PackagingError, match="no layer provides requests"):
        packaging.pinned_requirements(
            function_contents("functions.email.handler.handler").layer_libraries()
        )


def test_a_sql_file_named_in_the_code_that_does_not_exist_is_refused(source_copy):
    with (source_copy / "functions/drain/rows.py").open("a") as module:
        module.write('\n\nLATER = "ingest/no_such_statement.sql"\n')
    with pytest.raises(PackagingError) as refused:
        build_function_zip("functions.drain.handler.handler")
    assert str(refused.value) == (
        "functions/drain/rows.py names SQL file 'ingest/no_such_statement.sql', "
        "which is not under sql/"
    )


# Kept across runs (see the module's docstring); "elsewhere" is a second, separate fetch.
LAYER_CACHE = packaging.REPO_ROOT / "build" / "lambda-deps"
ELSEWHERE_CACHE = packaging.REPO_ROOT / "build" / "lambda-deps-elsewhere"


@pytest.fixture(scope="module")
def layer_cache() -> Iterator[Path]:
    # An index that does not answer fails a fetch in under a minute (3 tries of 15 s),
    # well within the test's timeout, whatever the environment's pip settings.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_DEFAULT_TIMEOUT", "15")
        patch.setenv("PIP_RETRIES", "2")
        yield LAYER_CACHE


def layer(libraries: set[str], cache: Path) -> LayerPackage:
    """:func:`build_layer`, or the test skipped when pip cannot reach the package index."""
    try:
        return build_layer(libraries, cache=cache)
    except IndexUnreachable as error:
        pytest.skip(f"the package index cannot be reached, and {cache} keeps no copy: {error}")


def test_the_layer_holds_the_libraries_under_python_and_not_boto3(layer_cache):
    built = layer({"pymysql", "aws_lambda_powertools"}, layer_cache)
    names = names_in(built.zip)
    assert all(name.startswith("python/") for name in names)
    tops = {name.split("/")[1] for name in names}
    assert {"pymysql", "aws_lambda_powertools", "typing_extensions.py"} <= tops
    assert not tops & {"boto3", "botocore", "bin"}
    assert layer({"pymysql", "aws_lambda_powertools"}, layer_cache) == built
    # Built elsewhere (fetched and compiled separately), it is the same content.
    elsewhere = layer({"pymysql", "aws_lambda_powertools"}, ELSEWHERE_CACHE)
    assert elsewhere.content_hash == built.content_hash
    # With AWS's public Powertools layer, the project's holds PyMySQL only.
    alone = layer({"pymysql"}, layer_cache)
    assert alone.content_hash != built.content_hash
    tops = {name.split("/")[1] for name in names_in(alone.zip)}
    assert "pymysql" in tops and "aws_lambda_powertools" not in tops


@pytest.mark.skipif(not compiles_for_lambda(), reason="only Python 3.11 writes Lambda's bytecode")
def test_the_layer_ships_unchecked_bytecode_for_every_module(layer_cache):
    """Lambda's /opt is read-only: without it, every cold start compiles every module."""
    archive = zipfile.ZipFile(io.BytesIO(layer({"pymysql"}, layer_cache).zip))
    names = set(archive.namelist())
    sources = [name for name in names if name.endswith(".py")]
    assert "python/pymysql/connections.py" in sources
    for source in sources:
        folder, _, module = source.rpartition("/")
        compiled = f"{folder}/__pycache__/{module[:-3]}.cpython-311.pyc"
        assert compiled in names, source
        # PEP 552 flags: hash-based (1), source not checked (no 2).
        assert int.from_bytes(archive.read(compiled)[4:8], "little") == 1, compiled
    assert not [n for n in names if n.endswith(".pyc") and ".cpython-311." not in n]


def test_every_handler_imports_from_its_zip_and_the_layer_alone(tmp_path, layer_cache):
    """Unzipped as Lambda does (the zip in the task root, the layer's python/ on the path),
    with the runtime's boto3 and nothing of this repository."""
    import boto3 as runtime_boto3

    opt = tmp_path / "opt"
    zipfile.ZipFile(
        io.BytesIO(layer({"pymysql", "aws_lambda_powertools"}, layer_cache).zip)
    ).extractall(opt)
    # boto3 and its dependencies, as on Lambda; -S keeps the editable install (which would
    # make this repository importable) out of sys.path. The layer comes before it.
    runtime = str(Path(runtime_boto3.__file__).resolve().parents[1])
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "TOPIC_ARN": "arn:t",
        "QUEUE_URL": "q",
        "EMAIL_FROM": "a@example.com",
        "EMAIL_TO": "b@example.com",
        "PATH": "/usr/bin",
    }
    for spec in FUNCTIONS:
        task = tmp_path / spec.name
        zipfile.ZipFile(io.BytesIO(build_function_zip(spec.handler))).extractall(task)
        module = spec.handler.rsplit(".", 1)[0]
        script = (
            f"import sys; sys.path[:0] = [{str(task)!r}, {str(opt / 'python')!r}, {runtime!r}]\n"
            f"import importlib; importlib.import_module({module!r})\n"
            "import functions, pymysql, aws_lambda_powertools\n"
            f"assert functions.__file__.startswith({str(task)!r})\n"
            f"assert pymysql.__file__.startswith({str(opt)!r})\n"
            f"assert aws_lambda_powertools.__file__.startswith({str(opt)!r})\n"
            "print('ok')\n"
        )
        # cwd: not the repository, which python -c would put on sys.path
        result = subprocess.run(
            [sys.executable, "-S", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert result.stdout.strip() == "ok", f"{spec.name}: {result.stderr[-2000:]}"


# -- a fetch that fails ---------------------------------------------------------------------


@pytest.fixture
def only_index(monkeypatch):
    """pip with ``url`` as its one index: no configuration file, no other index or links."""

    def use(url: str) -> None:
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
        for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PIP_INDEX_URL", url)
        monkeypatch.setenv("PIP_RETRIES", "1")  # one retry: its warning names the cause

    return use


def test_an_index_that_cannot_be_reached_is_told_apart(only_index, tmp_path):
    only_index(f"http://127.0.0.1:{free_port()}/simple")  # nobody listens there
    with pytest.raises(IndexUnreachable) as unreachable:
        vendor_dir(pinned_requirements({"pymysql"}), tmp_path / "cache")
    assert "Connection refused" in str(unreachable.value)


def test_a_fetch_that_fails_with_the_index_reached_is_a_packaging_error(only_index, tmp_path):
    index = tmp_path / "empty-index"  # an index, reached, that has no such package
    index.mkdir()
    only_index(index.as_uri())
    with pytest.raises(PackagingError) as failed:
        vendor_dir(pinned_requirements({"pymysql"}), tmp_path / "cache")
    assert not isinstance(failed.value, IndexUnreachable)
    assert "No matching distribution found for pymysql==" in str(failed.value)


def test_an_interrupted_fetch_is_not_taken_for_one_nor_added_to(only_index, tmp_path):
    requirements = pinned_requirements({"pymysql"})
    target = vendor_target(requirements, tmp_path, compiles_for_lambda())
    (target / "pymysql").mkdir(parents=True)  # a fetch that stopped halfway: no .complete
    (target / "pymysql" / "__init__.py").write_text("")
    only_index(f"http://127.0.0.1:{free_port()}/simple")
    with pytest.raises(IndexUnreachable):
        vendor_dir(requirements, tmp_path)
    # Gone before pip ran: pip --target keeps a package directory it finds in place.
    assert not target.exists()
