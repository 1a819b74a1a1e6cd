"""The layers of ``infra/``: provisioning (``infra/aws``) and the database side
(``infra/database``) never import the local stack (``infra/local``), which may import
both; and no cycle runs between the three packages. And the outbox's users beside the
relay (migrations, grants, the CLI) take its contract from ``functions/common``, never
from the relay's code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("infra.aws", "infra.database", "infra.local")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from infra import local` imports the package infra.local
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    return next(
        (layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None
    )


def modules_under(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [path for package in ("infra.aws", "infra.database") for path in modules_under(package)],
    ids=lambda path: module_name(path),
)
def test_provisioning_and_the_database_side_never_import_the_local_stack(path):
    assert not [m for m in imported_modules(path) if layer_of(m) == "infra.local"]


def layer_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for layer in LAYERS:
        for path in modules_under(layer):
            for module in imported_modules(path):
                target = layer_of(module)
                if target is not None and target != layer:
                    graph[layer].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        for successor in sorted(graph[node]):
            cycle = visit(successor, path + [node])
            if cycle:
                return cycle
        return None

    return next((cycle for node in graph if (cycle := visit(node, []))), None)


def test_no_import_cycle_between_aws_the_database_side_and_the_local_stack():
    assert find_cycle(layer_graph()) is None


def test_the_cycle_finder_finds_the_cycle_there_was():
    # Before infra/database: infra.aws.db_grants imported infra.local.emulation while
    # infra.local.stack imported infra.aws.
    graph = {"infra.aws": {"infra.local"}, "infra.database": set(), "infra.local": {"infra.aws"}}
    assert find_cycle(graph) == ["infra.aws", "infra.local", "infra.aws"]


# Inside infra/aws: the resources (the event path's and Aurora's chain's) know nothing of
# the doctor or the CLI's commands; the commands sit above the resources; the doctor reads
# the resources (their plans), never the CLI's commands.
ABOVE_RESOURCES = ("infra.aws.commands", "infra.aws.doctor")


def imports_any(path: Path, packages: tuple[str, ...]) -> list[str]:
    return [
        module
        for module in imported_modules(path)
        if any(module == package or module.startswith(package + ".") for package in packages)
    ]


@pytest.mark.parametrize(
    "path",
    modules_under("infra.aws.resources") + modules_under("infra.aws.aurora"),
    ids=lambda path: module_name(path),
)
def test_resources_never_import_the_doctor_or_the_commands(path):
    assert not imports_any(path, ABOVE_RESOURCES)


@pytest.mark.parametrize("path", modules_under("infra.aws.doctor"), ids=module_name)
def test_the_doctor_never_imports_the_commands(path):
    assert not imports_any(path, ("infra.aws.commands", "infra.aws.command_support"))


def test_the_subpackages_are_there():
    # The layout the folder table of docs/index.md shows: a rename that empties one fails here.
    for package in ("infra.aws.resources", "infra.aws.aurora", "infra.aws.doctor"):
        assert len(modules_under(package)) > 3, package


# The outbox's contract (functions/common/outbox_table.py: the table's name, its rows'
# states, the shared helpers) is what the migrations, the grants and the operator's
# commands share with the relay: none of them imports the relay's own code, so nothing of
# theirs reaches for it and the relay's zip (packed by import) holds nothing of theirs.
# And functions/common, which every function's zip may hold, imports no function's code.
OUTBOX_USERS = [
    *modules_under("migrations"),
    *modules_under("infra.database"),
    REPO_ROOT / "infra" / "cli.py",
    REPO_ROOT / "infra" / "demo.py",
]


@pytest.mark.parametrize("path", OUTBOX_USERS, ids=module_name)
def test_the_outboxs_users_beside_the_relay_never_import_the_relays_code(path):
    assert not imports_any(path, ("functions.relay",))


@pytest.mark.parametrize("path", modules_under("functions.common"), ids=module_name)
def test_the_shared_function_code_imports_no_functions_own(path):
    packages = (REPO_ROOT / "functions").glob("*/__init__.py")
    own = {f"functions.{init.parent.name}" for init in packages} - {"functions.common"}
    assert "functions.relay" in own
    assert not imports_any(path, tuple(own))


# The declared order is data walked by plain functions (infra.aws.resources.order): no
# facade class stands between it and its callers any more.
CALLERS_OF_THE_ORDER = ("infra.aws.commands", "infra.local.stack")


def test_the_event_path_facade_is_gone_and_nothing_imports_it():
    assert not (REPO_ROOT / "infra/aws/event_path.py").exists()
    importers = [
        module_name(path)
        for package in LAYERS
        for path in modules_under(package)
        if imports_any(path, ("infra.aws.event_path",))
    ]
    assert importers == []


@pytest.mark.parametrize("caller", CALLERS_OF_THE_ORDER)
def test_the_deploy_and_the_local_stack_walk_the_declared_order(caller):
    path = REPO_ROOT / (caller.replace(".", "/") + ".py")
    assert imports_any(path, ("infra.aws.resources.order",))
