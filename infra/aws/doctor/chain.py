"""Aurora's access to Lambda, link by link, as the chain's plans find it
(:mod:`infra.aws.aurora.order`): a link is broken when its resource's plan is not empty,
and the fix is ``aurora-events aurora apply ... --only <link>``, which makes exactly those
changes.

1. ``role``: the IAM role, trusting ``rds.amazonaws.com`` only for the cluster's account
   and its clusters, the invoke policy attached;
2. ``policy``: ``lambda:InvokeFunction`` on each function (and ``:*``);
3. ``parameter``: ``aws_default_lambda_role`` on each cluster's parameter group; then the
   reboot it waits for, if any (``--only reboot --reboot``);
4. ``association``: the role associated with each cluster (one still PENDING is a warning);
5. ``relay`` (when a relay is named): its function exists (Aurora may invoke it, the outbox
   trigger's doorbell: the policy link's plan has the relay among the functions), and its
   database account may work the outbox (a grant: checked by hand).

Aurora answers most breaks of this chain with the same ``ERROR 1227 ... Invoke Lambda
privilege(s)`` or ``Missing Credentials``: hence one link a resource.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pymysql

from infra.aws.aurora.association import RoleAssociation
from infra.aws.aurora.config import INVOKE_ACTION, RDS_SERVICE
from infra.aws.aurora.context import AuroraContext
from infra.aws.aurora.invoke_policy import InvokePolicy
from infra.aws.aurora.order import AURORA_CHAIN
from infra.aws.aurora.parameters import ClusterParameters
from infra.aws.aurora.policies import rds_source_conditions
from infra.aws.aurora.reboot import Reboot
from infra.aws.aurora.role import AuroraRole
from infra.aws.doctor.diagnosis import PROBE_PAYLOAD, LinkResult, ProbeResult, broken, broken_sql
from infra.aws.doctor.fixes import apply_command, deploy_apply_command
from infra.aws.doctor.plans import plan_link, with_only
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.policy_documents import describe_conditions
from infra.database import grants as db_grants


@dataclass(frozen=True)
class RelayCheck:
    """What the relay link checks: the relay's function, and optionally its database
    account (``USER@HOST``) on the outbox of ``database``."""

    function_arn: str
    account: str | None = None
    database: str | None = None


def aurora_fix(context: AuroraContext):
    """The fix of a chain link: ``aurora apply`` of the link's resources and of every other
    link whose plan differs too (what apply would change; a role needs its policy first),
    with ``--only`` unless that is the whole chain."""

    def fix(keys: list[str]) -> str:
        differing = [
            kind.key
            for kind in AURORA_CHAIN
            if kind.key in keys or (kind is not Reboot and differs(kind(context)))
        ]
        command = apply_command(context.config)
        if differing != [kind.key for kind in AURORA_CHAIN if kind is not Reboot]:
            command = with_only(command, differing)
        return command + (" --reboot" if "reboot" in keys else "")

    return fix


def differs(resource) -> bool:
    try:
        return bool(list(resource.plan()))
    except ForeignResourceError:  # reported by its own link
        return False


def check_role(context: AuroraContext) -> LinkResult:
    config = context.config
    limits = describe_conditions(rds_source_conditions(context.cluster_arns))
    return plan_link(
        "role",
        {"role": AuroraRole(context).plan},
        aurora_fix(context),
        f"iam role {config.role_name} trusts {RDS_SERVICE} only when {limits}",
        "less trust keeps Aurora out, more lets others in",
    )


def check_policy(context: AuroraContext) -> LinkResult:
    config = context.config
    return plan_link(
        "policy",
        {"policy": InvokePolicy(context).plan},
        aurora_fix(context),
        f"{INVOKE_ACTION} allowed on {len(config.function_arns)} function(s) and :*",
        "Aurora may invoke only what the policy allows",
    )


def check_parameter(context: AuroraContext) -> LinkResult:
    """The parameters; once they are as declared, the reboot they may wait for."""
    clusters = ", ".join(c.identifier for c in context.clusters)
    parameters = plan_link(
        "parameter",
        {"parameter": ClusterParameters(context).plan},
        aurora_fix(context),
        f"aws_default_lambda_role set and applied on db cluster {clusters}",
        "without the role in aws_default_lambda_role Aurora reports 'Missing Credentials'",
    )
    if not parameters.ok:
        return parameters
    return plan_link(
        "parameter",
        {"reboot": Reboot(altered(context, reboot=True)).plan},
        aurora_fix(context),
        parameters.detail,
        "the parameters wait for a reboot",
    )


def altered(context: AuroraContext, **changes) -> AuroraContext:
    """A copy of the context (what it read shared) with ``changes`` to its attributes:
    reboots planned (does any wait?), or the relay among the functions."""
    copied = copy.copy(context)
    for name, value in changes.items():
        setattr(copied, name, value)
    return copied


def check_association(context: AuroraContext) -> LinkResult:
    clusters = ", ".join(c.identifier for c in context.clusters)
    result = plan_link(
        "association",
        {"association": RoleAssociation(context).plan},
        aurora_fix(context),
        f"associated with db cluster {clusters}, ACTIVE",
        "Aurora cannot assume a role not associated with its cluster",
    )
    pending = [
        c.identifier
        for c in context.clusters
        if c.roles.get(context.role_arn) not in (None, "ACTIVE", "INVALID")
    ]
    if result.ok and pending:
        return LinkResult(
            "association",
            f"associated with db cluster {clusters}",
            warning=f"the association with {', '.join(pending)} is not ACTIVE yet: wait, "
            "then check again",
        )
    return result


def check_relay(context: AuroraContext, connection, relay: RelayCheck) -> LinkResult:
    """The outbox relay's link: its function, the doorbell (Aurora may invoke it: the
    invoke policy's plan with the relay among the functions), and its account's rights on
    the outbox once the outbox exists."""
    arn = relay.function_arn
    name = arn.rsplit(":", 1)[1]
    lambda_client = context.clients.get("lambda", arn.split(":")[3])
    try:
        lambda_client.get_function(FunctionName=arn)
    except lambda_client.exceptions.ResourceNotFoundException:
        return broken(
            "relay",
            f"the outbox relay's function {arn} does not exist: outbox events wait in the "
            "table (the doorbell is swallowed, and no schedule runs)",
            deploy_apply_command(name.rsplit("-", 1)[0]),
            "aurora-events",
        )
    # The policy link compared the policy with the relay among the functions (the doorbell).
    detail = f"function {name} exists; Aurora may invoke it (the doorbell)"
    if not (relay.account and relay.database):
        return LinkResult("relay", detail)
    return check_relay_account(connection, relay, detail)


def check_relay_account(connection, relay: RelayCheck, detail: str) -> LinkResult:
    """The relay's database account may work the outbox (a grant: the plan cannot see it)."""
    if not db_grants.outbox_exists(connection, relay.database):
        return LinkResult("relay", f"{detail}; no outbox in {relay.database} yet")
    user, host = db_grants.parse_account(relay.account)
    account = db_grants.account_literal(user, host)
    try:
        db_grants.find_account(connection, db_grants.detect_server(connection), user, host)
    except db_grants.AccountNotFound as error:
        return broken(
            "relay",
            f"{error} (the relay's account: the user in its secret, relay_database_secret_id)",
            "create the relay's account, or run the doctor with --relay-account set to it",
            "manual",
        )
    hold_counter = db_grants.hold_counter_exists(connection, relay.database)
    lacking = db_grants.missing_relay_privileges(connection, user, host, relay.database)
    if lacking:
        return broken_sql(
            "relay",
            f"{account} lacks {', '.join(lacking)} on {relay.database}.{db_grants.OUTBOX_TABLE}: "
            "the relay cannot claim or mark events, so they wait",
            db_grants.relay_grant_statements(relay.database, user, host, hold_counter),
        )
    found = f"{detail}; {account} may work the outbox of {relay.database}"
    lacking = hold_counter and db_grants.missing_hold_counter_privileges(
        connection, user, host, relay.database
    )
    if lacking:
        # Not broken: the relay works without the counter, looking for held events at
        # every record (slower).
        grant = db_grants.hold_counter_grant_statements(relay.database, user, host)
        return LinkResult(
            "relay",
            found,
            warning=(
                f"{account} lacks {', '.join(lacking)} on {relay.database}."
                f"{db_grants.HOLD_COUNTER_TABLE} (revision 0010): the relay looks for held "
                "events at every record, slower; grant: "
                + " ".join(f"{statement};" for statement in grant)
            ),
        )
    return LinkResult("relay", found)


def probe(connection, function: str) -> ProbeResult:
    """``SELECT lambda_sync(function, '{"ping": 1}')`` on ``connection``: its answer or error."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT lambda_sync(%s, %s)", (function, PROBE_PAYLOAD))
            value = cursor.fetchone()[0]
    except pymysql.err.MySQLError as error:
        return ProbeResult(function, error=" ".join(str(a) for a in error.args))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return ProbeResult(function, result=value)
