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

import dataclasses
from collections.abc import Iterable, Mapping

from alembic.autogenerate import comparators, renderers
from alembic.util import DispatchPriority, PriorityDispatchResult

from migrations.lambda_trigger import (
    CreateLambdaTriggerOp,
    DropLambdaTriggerOp,
    InstalledText,
    LambdaTrigger,
    ReplaceLambdaTriggerOp,
    form_names,
    units,
)
from migrations.row_event_sql import TriggerDefinitionError
from migrations.trigger_reader import (
    InstalledTrigger,
    TableShape,
    group_declarations,
    read_triggers,
    sql_tokens,
    table_shapes,
)

_registered: list[LambdaTrigger] | None = None


def register_triggers(triggers: Iterable[LambdaTrigger]) -> None:
    """Declare the project's triggers for autogenerate and ``alembic check`` (all of them:
    a managed trigger that is not registered is one to drop)."""
    global _registered
    triggers = list(triggers)
    names = [name for t in triggers for name in form_names(t)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TriggerDefinitionError(f"triggers declared twice: {', '.join(twice)}")
    _registered = triggers


def registered_triggers() -> list[LambdaTrigger] | None:
    """The declared triggers; None when nothing registered any (triggers not compared)."""
    return None if _registered is None else list(_registered)


def meaning(trigger: LambdaTrigger, shape: TableShape | None) -> tuple:
    """What a trigger of one operation does, defaults resolved: equal meanings are the
    same trigger (a condition compared by its SQL tokens, not its spacing)."""
    primary_key = trigger.primary_key or (shape.primary_key if shape else None)
    compared = trigger.columns_changed or (
        trigger.columns if "UPDATE" in trigger.operations else ()
    )
    return (
        trigger.trigger_name,
        trigger.table,
        trigger.function,
        trigger.columns,
        primary_key,
        trigger.delivery,
        trigger.template_version,
        trigger.operations,
        tuple(sql_tokens(trigger.when)) if trigger.when else None,
        compared,
    )


def installed_form(installed: InstalledTrigger) -> LambdaTrigger | InstalledText:
    """What restores ``installed``: its declaration, or its text as stored."""
    if installed.declaration is not None:
        return installed.declaration
    return InstalledText(
        installed.name, installed.table, installed.body, installed.timing, installed.event
    )


def installed_forms(found: list[InstalledTrigger]):
    """What restores the triggers ``found``: one declaration when one declaration renders
    them all, else a tuple of declarations and texts; None when there is none."""
    declared = group_declarations([t.declaration for t in found if t.declaration is not None])
    texts = [installed_form(t) for t in found if t.declaration is None]
    forms = [*declared, *texts]
    if not forms:
        return None
    return forms[0] if len(forms) == 1 else tuple(forms)


def trigger_operations(
    declared: Iterable[LambdaTrigger],
    installed: Iterable[InstalledTrigger],
    shapes: Mapping[str, TableShape],
) -> tuple[list, list]:
    """``(drops, creates_and_replaces)`` that turn ``installed`` into ``declared``; a
    declaration stands for one trigger per operation, compared one by one."""
    declared = list(declared)
    present = {t.name: t for t in installed}
    wanted = {name for trigger in declared for name in form_names(trigger)}
    drops: list = []
    changes: list = []
    extra = [t for name, t in present.items() if t.managed and name not in wanted]
    for table in dict.fromkeys(t.table for t in extra):
        on_table = [t for t in extra if t.table == table]
        drops += [DropLambdaTriggerOp(form) for form in _each(installed_forms(on_table))]
    for trigger in declared:
        pairs = [(unit, present.get(unit.trigger_name)) for unit in units(trigger)]
        if all(found is None for _, found in pairs):
            changes.append(CreateLambdaTriggerOp(trigger))
            continue
        # Only the operations whose trigger is missing or differs: the rest stay as they are.
        missing = [unit for unit, found in pairs if found is None]
        differing = [
            (unit, found)
            for unit, found in pairs
            if found is not None
            and (
                found.declaration is None
                or meaning(found.declaration, shapes.get(found.table))
                != meaning(unit, shapes.get(unit.table))
            )
        ]
        if not missing and not differing:
            continue
        operations = {unit.operations[0] for unit in missing} | {
            unit.operations[0] for unit, _ in differing
        }
        part = _part(trigger, operations)
        elsewhere = [found for _, found in differing if found.table != trigger.table]
        drops += [DropLambdaTriggerOp(installed_form(found)) for found in elsewhere]
        old = installed_forms([found for _, found in differing if found.table == trigger.table])
        if old is None:
            changes.append(CreateLambdaTriggerOp(part))
        else:
            changes.append(ReplaceLambdaTriggerOp(part, replaces=old))
    return drops, changes


def _part(trigger: LambdaTrigger, operations: set[str]) -> LambdaTrigger:
    """``trigger`` for ``operations`` only (its triggers' names unchanged)."""
    if set(trigger.operations) == operations:
        return trigger
    if len(operations) == 1:
        return trigger.for_operation(operations.pop())
    return dataclasses.replace(
        trigger,
        operations=tuple(operations),
        columns_changed=trigger.columns_changed if "UPDATE" in operations else (),
    )


def _each(form) -> list:
    if form is None:
        return []
    return list(form) if isinstance(form, tuple) else [form]


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
# Written only when not their defaults: revisions of INSERT triggers read as before.
_CHANGE_FIELDS = ("operations", "when", "columns_changed")
_DEFAULTS = {"operations": ("INSERT",), "when": None, "columns_changed": ()}


def render_trigger(trigger, indent: str = "    ") -> str:
    """Python that re-creates ``trigger``, every field explicit (the text version too:
    what a revision installs never depends on a default); a tuple of them as a tuple."""
    if isinstance(trigger, tuple):
        items = [f"{indent}{render_trigger(item, indent + '    ')}," for item in trigger]
        return "(\n" + "\n".join(items) + f"\n{indent[:-4]})"
    if isinstance(trigger, InstalledText):
        fields = ("name", "table", "body", "timing", "event")
        kind = "InstalledText"
    else:
        fields = _FIELDS + tuple(
            field for field in _CHANGE_FIELDS if getattr(trigger, field) != _DEFAULTS[field]
        )
        kind = "LambdaTrigger"
    lines = [f"{indent}{field}={getattr(trigger, field)!r}," for field in fields]
    return f"{kind}(\n" + "\n".join(lines) + f"\n{indent[:-4]})"


def _imports(autogen_context, trigger) -> None:
    for item in trigger if isinstance(trigger, tuple) else (trigger,):
        autogen_context.imports.add(f"from migrations.lambda_trigger import {type(item).__name__}")


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
