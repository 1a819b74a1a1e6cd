"""The database side of Aurora's chain, read from the database itself: the installed
triggers (``information_schema.TRIGGERS``), the grant each trigger's definer needs, and
the functions the triggers name.

* ``triggers``: which trigger of the schema calls which function, by which delivery, as
  whom; and, in a schema Alembic migrated, whether they are the declared ones
  (:mod:`migrations.declared`): one missing or installed otherwise breaks the link.
* ``grant``: every distinct definer of a trigger that calls Lambda (a direct trigger's
  ``lambda_async``, an outbox trigger's doorbell) holds AWS_LAMBDA_ACCESS as a default
  role (v3, and the emulation) or INVOKE LAMBDA (v2); ``--definer`` is checked as well,
  and alone when no trigger calls Lambda yet.
* ``functions``: the functions Aurora may invoke exist; every ARN a trigger calls is a
  deployed function (a qualified one: its alias or version too) that Aurora's invoke
  policy allows exactly; every outbox target exists and the relay's role may invoke it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from infra.aws.aurora.config import INVOKE_ACTION, AuroraAccessConfig
from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult, broken, broken_sql
from infra.aws.doctor.fixes import alias_fix, deploy_apply_command
from infra.aws.function_state import (
    function_exists,
    role_name_of,
    role_policy_documents,
)
from infra.aws.policy_documents import policy_allows
from infra.catalog import FUNCTIONS, OUTBOX_TARGETS
from infra.database import grants as db_grants
from migrations.function_arns import FunctionArn
from migrations.lambda_trigger import (
    CreateLambdaTriggerOp,
    LambdaTrigger,
    ReplaceLambdaTriggerOp,
    describe,
)
from migrations.trigger_compare import trigger_operations
from migrations.trigger_reader import InstalledTrigger, TableShape


def short_name(arn: str) -> str:
    """``…:function:shop-events-notify:live`` -> ``shop-events-notify:live``."""
    reference = FunctionArn.find(arn)
    return arn if reference is None else reference.short_name


def check_triggers(
    triggers: list[InstalledTrigger],
    schema: str,
    declared: Sequence[LambdaTrigger] | None = None,
    shapes: Mapping[str, TableShape] | None = None,
    revision: str | None = None,
    head: str | None = None,
) -> LinkResult:
    """The schema's triggers (``triggers``: all of them, as read) against the declared
    ones (:mod:`migrations.declared`): a declared trigger missing or installed otherwise
    is a broken link, with its fix (``alembic upgrade head`` when the schema is behind
    ``head``, else the revision to write); one of this project's that is not declared is a
    warning (it still works; the next links check it). ``revision`` None: the schema was
    never migrated by Alembic, so there is nothing to compare; the triggers are listed."""
    managed = [t for t in triggers if t.managed]
    items = tuple(trigger.describe(short_name) for trigger in managed)
    listed = (
        f"{len(managed)} trigger(s) in {schema} call Lambda or write the outbox"
        if managed
        else f"no trigger in {schema} calls Lambda or writes the outbox (yet)"
    )
    if declared is None or revision is None:
        why = "" if declared is None else f" ({schema} has no alembic_version: not compared)"
        return LinkResult("triggers", listed + why, items=items)
    drops, changes = trigger_operations(declared, triggers, shapes or {})
    missing = [op.trigger.trigger_name for op in changes if isinstance(op, CreateLambdaTriggerOp)]
    changed = [op.trigger.trigger_name for op in changes if isinstance(op, ReplaceLambdaTriggerOp)]
    extra = [op.trigger.trigger_name for op in drops]
    lines = [
        *(f"missing: {describe_declared(op.trigger)}" for op in changes if not _replaces(op)),
        *(
            f"changed: {op.trigger.trigger_name}: installed {describe(op.replaces)}; "
            f"declared {describe(op.trigger)}"
            for op in changes
            if _replaces(op)
        ),
        *(f"not declared: {op.trigger.trigger_name}" for op in drops),
    ]
    if missing or changed:
        problem = "; ".join(
            part
            for part in (
                f"declared trigger(s) missing: {', '.join(missing)}" if missing else "",
                f"installed otherwise than declared: {', '.join(changed)}" if changed else "",
            )
            if part
        )
        behind = revision != head
        fix = (
            f"alembic upgrade head ({schema} is at {revision or 'base'}, head is {head})"
            if behind
            else "alembic revision --autogenerate -m 'triggers as declared', review it, then "
            "alembic upgrade head (or, if the installed trigger is the one you want, change "
            "migrations/declared.py to match: alembic check passes when both agree)"
        )
        return broken(
            "triggers",
            f"{problem} in {schema} (migrations/declared.py): their rows send no event, "
            "or not the declared one",
            fix,
            "manual",
            items=items + tuple(lines),
        )
    warning = (
        f"trigger(s) of this project in {schema} that migrations/declared.py does not "
        f"declare: {', '.join(extra)} (declare them, or alembic revision --autogenerate "
        "writes the revision that drops them)"
        if extra
        else None
    )
    return LinkResult(
        "triggers",
        f"{listed}, as declared (migrations/declared.py)",
        items=items,
        warning=warning,
    )


def _replaces(operation) -> bool:
    return isinstance(operation, ReplaceLambdaTriggerOp)


def describe_declared(trigger: LambdaTrigger) -> str:
    return f"{trigger.trigger_name} on {describe(trigger)}"


def calling_definers(triggers: Iterable[InstalledTrigger]) -> dict[tuple[str, str], list[str]]:
    """Each definer of a trigger that calls Lambda (as that account), with its triggers."""
    definers: dict[tuple[str, str], list[str]] = {}
    for trigger in triggers:
        if trigger.calls.invoked or trigger.calls.unreadable_calls:
            definers.setdefault(trigger.definer, []).append(trigger.name)
    return definers


# -- grant -------------------------------------------------------------------------------


def check_account_grant(connection, user: str, host: str, triggers: list[str]) -> LinkResult:
    """One account's Lambda grant; ``triggers``: those it defines (empty: ``--definer``)."""
    account = db_grants.account_literal(user, host)
    server = db_grants.detect_server(connection)
    try:
        db_grants.find_account(connection, server, user, host)
    except db_grants.AccountNotFound as error:
        if not triggers:
            return broken(
                "grant",
                f"{error} (a trigger's DEFINER is the account that ran the migration)",
                "run the doctor with --definer set to the account that defines the triggers",
                "manual",
            )
        return broken(
            "grant",
            f"{error}: it is the DEFINER of trigger(s) {', '.join(triggers)}, which fail "
            "every INSERT with ERROR 1449 (the definer does not exist)",
            f"create the account {account} again (and grant it: aurora-events grant --user "
            f"{user} --host '{host}'), or replace the triggers in a new revision run as an "
            "existing, granted account (op.replace_lambda_trigger)",
            "manual",
        )
    access = db_grants.lambda_access(connection, server, user, host)
    what = "AWS_LAMBDA_ACCESS" if server.aurora_major == 3 else "INVOKE LAMBDA"
    whose = f" (definer of {', '.join(triggers)})" if triggers else ""
    if not access.granted:
        statements = db_grants.grant_statements(server, user, host)
        return broken_sql(
            "grant",
            f"{account}{whose} does not hold {what} ({server.describe()}): "
            "its triggers fail with ERROR 1227",
            statements,
        )
    if not access.active:
        statements = db_grants.default_role_statements(server, user, host)
        also = "" if server.emulated else " (or set activate_all_roles_on_login = 1)"
        return broken_sql(
            "grant",
            f"{account}{whose} holds {what} but not as a default role{also}: the role is "
            "inactive in the triggers it defines, which fail with ERROR 1227",
            statements,
        )
    return LinkResult("grant", f"{account} holds {what}, active ({server.describe()})")


def check_grant(
    connection, definer: str | None, triggers: list[InstalledTrigger] | None
) -> LinkResult:
    """Every definer of the triggers that call Lambda (``triggers`` None: not read), and
    ``definer`` (``user@host``) when given."""
    accounts = {account: names for account, names in calling_definers(triggers or []).items()}
    if definer:
        user, host = db_grants.parse_account(definer)
        accounts.setdefault((user, host), [])
    if not accounts:
        return LinkResult(
            "grant", "no trigger calls Lambda and no --definer given: no account to check"
        )
    details = []
    for (user, host), names in accounts.items():
        result = check_account_grant(connection, user, host, names)
        if not result.ok:
            return result
        whose = f": definer of {len(names)} trigger(s)" if names else ": --definer"
        details.append(result.detail + whose)
    return LinkResult("grant", "; ".join(details))


# -- functions ---------------------------------------------------------------------------


def missing_function_fix(
    lambda_client, reference: FunctionArn, prefix: str
) -> tuple[str, str, str]:
    """``(why, fix, kind)`` for a function reference that does not resolve."""
    catalog_names = {f"{prefix}-{spec.name}" for spec in FUNCTIONS}
    if reference.qualifier and function_exists(lambda_client, reference.function_arn):
        fix, kind = alias_fix(
            lambda_client,
            reference.function_arn,
            reference.qualifier,
            prefix,
            ours=reference.name in catalog_names,
        )
        return f"function {reference.name} has no alias or version {reference.qualifier}", fix, kind
    if reference.name in catalog_names:
        return f"no function {reference.name}", deploy_apply_command(prefix), "aurora-events"
    return (
        f"no function {reference.name}",
        f"deploy {reference.name}, or point the trigger at a deployed function: set "
        "AURORA_EVENTS_FUNCTION_ARN_<NAME> and replace the trigger in a new revision "
        "(op.replace_lambda_trigger)",
        "manual",
    )


def _users(triggers: Iterable[InstalledTrigger], arn: str, kind: str) -> list[InstalledTrigger]:
    return [t for t in triggers if arn in getattr(t.calls, kind)]


def check_trigger_functions(
    clients: Clients, iam, config: AuroraAccessConfig, triggers: list[InstalledTrigger]
) -> LinkResult | None:
    """The first broken trigger function, or None when every one is in place."""
    invoked = sorted({arn for t in triggers for arn in t.calls.invoked})
    targets = sorted({arn for t in triggers for arn in t.calls.outbox_targets})
    # Every function Aurora calls first (direct targets, doorbells), then the outbox
    # targets (the relay calls them).
    for kind, arns in (("invoked", invoked), ("outbox_targets", targets)):
        for arn in arns:
            users = _users(triggers, arn, kind)
            names = ", ".join(t.name for t in users)
            reference = FunctionArn.find(arn)
            if reference is None:
                return broken(
                    "functions",
                    f"trigger(s) {names} call {arn!r}, which is not a Lambda function ARN",
                    "replace the trigger(s) in a new revision (op.replace_lambda_trigger) "
                    "naming a deployed function",
                    "manual",
                )
            lambda_client = clients.get("lambda", reference.region)
            if not function_exists(lambda_client, arn):
                why, fix, fix_kind = missing_function_fix(lambda_client, reference, config.prefix)
                return broken(
                    "functions",
                    f"trigger(s) {names} call {arn}, but {why}: "
                    + (
                        "their INSERTs fail with ERROR 1873 (function not found)"
                        if kind == "invoked" and any(t.calls.delivery == "direct" for t in users)
                        else "their events are not delivered"
                    ),
                    fix,
                    fix_kind,
                )
            # Aurora's policy allowing what the triggers invoke is the policy link's plan.
            if kind == "outbox_targets":
                refused = relay_refusal(clients, iam, users, arn)
                if refused is not None:
                    return refused
    return None


def relay_refusal(
    clients: Clients, iam, users: list[InstalledTrigger], target: str
) -> LinkResult | None:
    """The outbox target ``target`` as the relays that ring for ``users`` see it: each
    relay's execution role must allow invoking it (None: they all may)."""
    for relay_arn in sorted({arn for t in users for arn in t.calls.invoked}):
        reference = FunctionArn.find(relay_arn)
        if reference is None:
            continue
        lambda_client = clients.get("lambda", reference.region)
        try:
            role_arn = lambda_client.get_function(FunctionName=relay_arn)["Configuration"]["Role"]
        except lambda_client.exceptions.ResourceNotFoundException:
            continue  # the invoked ARNs were checked first: not reached
        role = role_name_of(role_arn)
        if not policy_allows(role_policy_documents(iam, role), INVOKE_ACTION, target):
            # The relay's role allows the catalog's outbox targets: deploy puts them back;
            # any other function is not one the relay is meant to call.
            relay_prefix = reference.name.removesuffix("-relay")
            declared = {f"{relay_prefix}-{name}" for name in OUTBOX_TARGETS}
            target_name = FunctionArn.find(target).name
            fix, kind = (
                (deploy_apply_command(relay_prefix), "aurora-events")
                if target_name in declared
                else (
                    f"point the trigger(s) at an outbox target the relay may invoke "
                    f"({', '.join(sorted(declared))}), or declare {target_name} in "
                    "infra/catalog.py OUTBOX_TARGETS and deploy apply",
                    "manual",
                )
            )
            return broken(
                "functions",
                f"the relay {short_name(relay_arn)}'s role {role} may not invoke "
                f"{target}, the outbox target of {', '.join(t.name for t in users)}: those "
                "events wait and are parked",
                fix,
                kind,
            )
    return None


def check_functions(
    clients: Clients,
    iam,
    config: AuroraAccessConfig,
    triggers: list[InstalledTrigger] | None,
) -> LinkResult:
    """The functions Aurora may invoke exist; then those the triggers name (when read)."""
    missing = []
    arns = list(config.function_arns)
    for arn in arns:
        if not function_exists(clients.get("lambda", arn.split(":")[3]), arn):
            missing.append(arn)
    if missing:
        return broken(
            "functions",
            "no such function: " + ", ".join(missing),
            "deploy the function(s) (the catalog's: "
            f"{deploy_apply_command(config.prefix)}), or name deployed ones with --function-arn",
            "manual",
        )
    if triggers is None:
        return LinkResult("functions", f"{len(arns)} function(s) exist")
    refused = check_trigger_functions(clients, iam, config, triggers)
    if refused is not None:
        return refused
    invoked = {arn for t in triggers for arn in t.calls.invoked}
    targets = {arn for t in triggers for arn in t.calls.outbox_targets}
    detail = (
        f"{len(arns)} function(s) exist; the {len(invoked)} function(s) the triggers call "
        "exist and Aurora's policy allows them"
    )
    if targets:
        detail += f"; the {len(targets)} outbox target(s) exist and the relay may invoke them"
    return LinkResult("functions", detail)
