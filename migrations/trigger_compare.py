"""Lambda triggers in autogenerate: the comparator that sets declared triggers against
installed ones, and the renderers that write its operations into a revision.

``env.py`` registers the declared triggers (:func:`register_triggers`, like alembic_utils'
``register_entities``). ``alembic revision --autogenerate`` then emits, after the table
operations:

* ``op.create_lambda_trigger(t)`` for a declared trigger the database lacks;
* ``op.drop_lambda_trigger(t)`` for an installed trigger of this project (its body calls
  ``lambda_async``/``lambda_sync`` or writes the outbox) that is not declared; a trigger
  of anyone else is never dropped;
* ``op.replace_lambda_trigger(new, replaces=old)`` for one installed otherwise, ``old`` read
  from the database (:mod:`migrations.trigger_reader`), so the downgrade restores it.

Triggers are compared by what they mean: table, function by catalog name, delivery,
columns, primary key and text version; not by raw text, nor by the ARN's account, region
or qualifier (those belong to the environment). An installed trigger that no text of this
project renders (changed by hand) is always a difference; its revision restores it on
downgrade verbatim (:class:`~migrations.lambda_trigger.InstalledText`). ``alembic check``
fails naming each difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alembic.autogenerate import comparators, renderers
from alembic.util import DispatchPriority, PriorityDispatchResult

from migrations.lambda_trigger import (
    CreateLambdaTriggerOp,
    DropLambdaTriggerOp,
    InstalledText,
    LambdaTrigger,
    ReplaceLambdaTriggerOp,
)
from migrations.row_event_sql import TriggerDefinitionError
from migrations.trigger_reader import InstalledTrigger, TableShape, read_triggers, table_shapes

_registered: list[LambdaTrigger] | None = None


def register_triggers(triggers: Iterable[LambdaTrigger]) -> None:
    """Declare the project's triggers for autogenerate and ``alembic check`` (all of them:
    a managed trigger that is not registered is one to drop)."""
    global _registered
    triggers = list(triggers)
    names = [t.trigger_name for t in triggers]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TriggerDefinitionError(f"triggers declared twice: {', '.join(twice)}")
    _registered = triggers


def registered_triggers() -> list[LambdaTrigger] | None:
    """The declared triggers; None when nothing registered any (triggers not compared)."""
    return None if _registered is None else list(_registered)


def meaning(trigger: LambdaTrigger, shape: TableShape | None) -> tuple:
    """What a trigger does, defaults resolved: equal meanings are the same trigger."""
    primary_key = trigger.primary_key or (shape.primary_key if shape else None)
    return (
        trigger.trigger_name,
        trigger.table,
        trigger.function,
        trigger.columns,
        primary_key,
        trigger.delivery,
        trigger.template_version,
    )


def installed_form(installed: InstalledTrigger) -> LambdaTrigger | InstalledText:
    """What restores ``installed``: its declaration, or its text as stored."""
    if installed.declaration is not None:
        return installed.declaration
    return InstalledText(
        installed.name, installed.table, installed.body, installed.timing, installed.event
    )


def trigger_operations(
    declared: Iterable[LambdaTrigger],
    installed: Iterable[InstalledTrigger],
    shapes: Mapping[str, TableShape],
) -> tuple[list, list]:
    """``(drops, creates_and_replaces)`` that turn ``installed`` into ``declared``."""
    wanted = {t.trigger_name: t for t in declared}
    present = {t.name: t for t in installed}
    drops: list = []
    changes: list = []
    for name, found in present.items():
        if found.managed and name not in wanted:
            drops.append(DropLambdaTriggerOp(installed_form(found)))
    for name, trigger in wanted.items():
        found = present.get(name)
        if found is None:
            changes.append(CreateLambdaTriggerOp(trigger))
            continue
        if found.declaration is not None and meaning(
            found.declaration, shapes.get(found.table)
        ) == (meaning(trigger, shapes.get(trigger.table))):
            continue
        old = installed_form(found)
        if found.table == trigger.table:
            changes.append(ReplaceLambdaTriggerOp(trigger, replaces=old))
        else:
            drops.append(DropLambdaTriggerOp(old))
            changes.append(CreateLambdaTriggerOp(trigger))
    return drops, changes


@comparators.dispatch_for("schema", priority=DispatchPriority.LAST)
def compare_lambda_triggers(autogen_context, upgrade_ops, schemas) -> PriorityDispatchResult:
    """Autogenerate's comparator: after the tables' operations, so a trigger on a table
    the same revision creates comes after it; drops first, before a table goes."""
    declared = registered_triggers()
    if declared is None or autogen_context.connection is None:
        return PriorityDispatchResult.CONTINUE
    connection = autogen_context.connection
    installed = read_triggers(connection)
    shapes = table_shapes(connection, installed[0].schema) if installed else {}
    drops, changes = trigger_operations(declared, installed, shapes)
    upgrade_ops.ops[:0] = drops
    upgrade_ops.ops.extend(changes)
    return PriorityDispatchResult.CONTINUE


# -- rendering into the revision ---------------------------------------------------------

_FIELDS = ("table", "function", "columns", "primary_key", "name", "delivery", "template_version")


def render_trigger(trigger: LambdaTrigger | InstalledText, indent: str = "    ") -> str:
    """Python that re-creates ``trigger``, every field explicit (the text version too:
    what a revision installs never depends on a default)."""
    if isinstance(trigger, InstalledText):
        fields = ("name", "table", "body", "timing", "event")
        kind = "InstalledText"
    else:
        fields, kind = _FIELDS, "LambdaTrigger"
    lines = [f"{indent}{field}={getattr(trigger, field)!r}," for field in fields]
    return f"{kind}(\n" + "\n".join(lines) + f"\n{indent[:-4]})"


def _imports(autogen_context, trigger) -> None:
    autogen_context.imports.add(f"from migrations.lambda_trigger import {type(trigger).__name__}")


def _prefix(autogen_context) -> str:
    return autogen_context.opts.get("alembic_module_prefix", "op.")


@renderers.dispatch_for(CreateLambdaTriggerOp)
def _render_create(autogen_context, operation: CreateLambdaTriggerOp) -> str:
    _imports(autogen_context, operation.trigger)
    return (
        f"{_prefix(autogen_context)}create_lambda_trigger("
        f"\n    {render_trigger(operation.trigger, '        ')}\n)"
    )


@renderers.dispatch_for(DropLambdaTriggerOp)
def _render_drop(autogen_context, operation: DropLambdaTriggerOp) -> str:
    _imports(autogen_context, operation.trigger)
    return (
        f"{_prefix(autogen_context)}drop_lambda_trigger("
        f"\n    {render_trigger(operation.trigger, '        ')}\n)"
    )


@renderers.dispatch_for(ReplaceLambdaTriggerOp)
def _render_replace(autogen_context, operation: ReplaceLambdaTriggerOp) -> str:
    _imports(autogen_context, operation.trigger)
    _imports(autogen_context, operation.replaces)
    return (
        f"{_prefix(autogen_context)}replace_lambda_trigger("
        f"\n    {render_trigger(operation.trigger, '        ')},"
        f"\n    replaces={render_trigger(operation.replaces, '        ')},\n)"
    )
