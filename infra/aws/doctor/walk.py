"""Which link of the whole path is broken, and the command that fixes it.

The path a write takes, in order — the doctor stops at the first broken link:

* the ingest path (:mod:`infra.aws.doctor.path`, :mod:`infra.aws.doctor.drain`):
  ``api`` → ``ingest`` → ``queue`` → ``mapping`` → ``drain`` → ``database``;
* Aurora's access to Lambda, which the row-event triggers need. Aurora answers most
  breaks with the same ``ERROR 1227 ... Invoke Lambda privilege(s)`` or ``Missing
  Credentials``, so each link is checked on its own:

  1. ``role``: the IAM role exists and trusts ``rds.amazonaws.com`` exactly as ``aurora
     apply`` writes it: only for the cluster's account and its clusters
     (``aws:SourceAccount``, ``aws:SourceArn``), so no other account's RDS can act through it;
  2. ``policy``: its policies allow ``lambda:InvokeFunction`` on each function (and ``:*``);
  3. ``parameter``: ``aws_default_lambda_role`` is the role's ARN on each cluster's
     parameter group, and applied (no instance waits for a reboot);
  4. ``association``: the role is associated with each cluster, status ACTIVE;
  5. ``triggers`` (when a schema is named): the installed triggers, read from
     ``information_schema.TRIGGERS``, against the declared ones in a schema Alembic
     migrated (:mod:`infra.aws.doctor.triggers`, :mod:`migrations.declared`);
  6. ``grant``: every definer of a trigger that calls Lambda (and ``--definer``) holds
     AWS_LAMBDA_ACCESS as a default role (v3, and the emulation) or INVOKE LAMBDA (v2);
  7. ``functions``: the functions exist; those the triggers call exist and Aurora's
     policy allows them; outbox targets exist and the relay may invoke them;
  8. ``relay`` (when a relay is named): the outbox relay's function exists, Aurora's policy
     lets it be invoked (the outbox trigger's doorbell), and, when its database account is
     named and the outbox exists, that account may work the outbox (SELECT, UPDATE, DELETE);
  9. ``network``: each subnet of the DB subnet group routes to Lambda (NAT or internet
     gateway), or the VPC has a Lambda interface endpoint. Skipped when the caller says so
     (``check_network=False``: a local endpoint has no network to check).

Optionally a live probe: ``SELECT lambda_sync(<function>, '{"ping": 1}')``, which this
project's functions answer with a pong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import pymysql

from infra.aws.aurora.config import (
    INVOKE_ACTION,
    LAMBDA_ROLE_PARAMETER,
    RDS_SERVICE,
    AuroraAccessConfig,
)
from infra.aws.aurora.parameters import apply_method
from infra.aws.aurora.policies import rds_source_conditions, rds_trust_policy
from infra.aws.aurora.state import (
    Clients,
    ClusterState,
    Parameter,
    access_identities,
    checked_engine_major,
    is_default_group,
    read_clusters,
    read_parameters,
)
from infra.aws.doctor.api import check_api
from infra.aws.doctor.diagnosis import (
    PROBE_PAYLOAD,
    Diagnosis,
    Finding,
    LinkResult,
    ProbeResult,
    aws_command,
    broken,
    broken_sql,
    compact_json,
    render_diagnosis,
)
from infra.aws.doctor.drain import check_database, check_drain
from infra.aws.doctor.fixes import apply_command, deploy_apply_command
from infra.aws.doctor.network import check_route_to_lambda
from infra.aws.doctor.path import (
    PATH_LINKS,
    PathCheck,
    PathNames,
    check_ingest,
    check_mapping,
    check_queue,
)
from infra.aws.doctor.triggers import check_functions, check_grant, check_triggers
from infra.aws.function_state import role_policy_documents, uncovered_resources
from infra.aws.policy_documents import (
    describe_conditions,
    trust_conditions,
    trust_matches,
    trusts_service,
)
from infra.aws.resources.context import Target
from infra.database import grants as db_grants
from migrations import declared
from migrations.revisions import head_revision, schema_revision
from migrations.trigger_reader import read_triggers, table_shapes

__all__ = [
    "PROBE_PAYLOAD",
    "Diagnosis",
    "Finding",
    "LinkResult",
    "PathCheck",
    "ProbeResult",
    "RelayCheck",
    "apply_command",
    "compact_json",
    "diagnose",
    "render_diagnosis",
    "replace",
    "uncovered_resources",
]

CHAIN_LINKS = (
    "role",
    "policy",
    "parameter",
    "association",
    "triggers",
    "grant",
    "functions",
    "relay",
    "network",
)
LINKS = (*PATH_LINKS, *CHAIN_LINKS)


@dataclass(frozen=True)
class RelayCheck:
    """What the relay link checks: the relay's function, and optionally its database
    account (``USER@HOST``) on the outbox of ``database``."""

    function_arn: str
    account: str | None = None
    database: str | None = None


# -- the links ---------------------------------------------------------------------------


def check_role(
    config: AuroraAccessConfig, clusters: Iterable[ClusterState], role: dict | None
) -> LinkResult:
    """The role (as read, None when missing) exists and its trust policy is exactly the one
    ``aurora apply`` writes for ``clusters``: RDS, on behalf of their account and of them
    only."""
    if role is None:
        return broken(
            "role",
            f"iam role {config.role_name} does not exist",
            apply_command(config),
            "aurora-events",
        )
    cluster_arns = [cluster.arn for cluster in clusters]
    desired = rds_trust_policy(cluster_arns)
    limits = describe_conditions(rds_source_conditions(cluster_arns))
    current = role["AssumeRolePolicyDocument"]
    if trust_matches(current, desired):
        return LinkResult(
            "role", f"iam role {config.role_name} trusts {RDS_SERVICE} only when {limits}"
        )
    fix = aws_command(
        "iam",
        "update-assume-role-policy",
        "--role-name",
        config.role_name,
        "--policy-document",
        compact_json(desired),
    )
    if not trusts_service(current, RDS_SERVICE):
        why = f"does not trust {RDS_SERVICE}: Aurora cannot assume it"
    elif {} in trust_conditions(current, RDS_SERVICE):
        why = (
            f"trusts {RDS_SERVICE} without conditions: RDS acting for any account or "
            f"resource could assume it (confused deputy); it should trust it only when {limits}"
        )
    else:
        why = (
            f"does not trust {RDS_SERVICE} exactly when {limits}: conditions naming other "
            "clusters or accounts keep Aurora out, anything more lets others in"
        )
    return broken(
        "role",
        f"iam role {config.role_name} {why} (trust policy: {compact_json(current)})",
        fix,
        "aws",
    )


def check_policy(iam, config: AuroraAccessConfig) -> LinkResult:
    missing = uncovered_resources(
        role_policy_documents(iam, config.role_name), config.function_arns
    )
    if missing:
        return broken(
            "policy",
            f"the policies of iam role {config.role_name} do not allow {INVOKE_ACTION} on: "
            + ", ".join(missing),
            apply_command(config),
            "aurora-events",
        )
    return LinkResult(
        "policy", f"{INVOKE_ACTION} allowed on {len(config.function_arns)} function(s) and :*"
    )


def check_parameter(
    clients: Clients, config: AuroraAccessConfig, cluster: ClusterState, role_arn: str
) -> LinkResult:
    group = cluster.parameter_group
    if is_default_group(group):
        return broken(
            "parameter",
            f"db cluster {cluster.identifier} uses the default parameter group {group}, "
            f"where {LAMBDA_ROLE_PARAMETER} cannot be set",
            apply_command(config),
            "aurora-events",
        )
    rds = clients.rds(cluster.region)
    current = read_parameters(rds, group, [LAMBDA_ROLE_PARAMETER]).get(
        LAMBDA_ROLE_PARAMETER, Parameter(None, None)
    )
    if current.value != role_arn:
        setting = {
            "ParameterName": LAMBDA_ROLE_PARAMETER,
            "ParameterValue": role_arn,
            "ApplyMethod": apply_method(current.apply_type),
        }
        fix = aws_command(
            "rds",
            "modify-db-cluster-parameter-group",
            "--region",
            cluster.region,
            "--db-cluster-parameter-group-name",
            group,
            "--parameters",
            compact_json([setting]),
        )
        return broken(
            "parameter",
            f"{LAMBDA_ROLE_PARAMETER} is {current.value or 'unset'} in db cluster parameter group "
            f"{group} of db cluster {cluster.identifier} (should be {role_arn}): Aurora reports "
            "'Missing Credentials'",
            fix,
            "aws",
        )
    pending = cluster.pending_reboot()
    if pending:
        fix = "\n".join(
            aws_command(
                "rds",
                "reboot-db-instance",
                "--region",
                cluster.region,
                "--db-instance-identifier",
                instance,
            )
            for instance in pending
        )
        return broken(
            "parameter",
            f"{LAMBDA_ROLE_PARAMETER} is set in {group} but not applied: "
            f"{', '.join(pending)} wait(s) for a reboot",
            fix,
            "aws",
        )
    return LinkResult(
        "parameter", f"{LAMBDA_ROLE_PARAMETER} set and applied on db cluster {cluster.identifier}"
    )


def check_association(cluster: ClusterState, role_arn: str) -> LinkResult:
    where = ["--region", cluster.region, "--db-cluster-identifier", cluster.identifier]
    add = aws_command("rds", "add-role-to-db-cluster", *where, "--role-arn", role_arn)
    status = cluster.roles.get(role_arn)
    if status is None:
        return broken(
            "association",
            f"iam role {role_arn} is not associated with db cluster {cluster.identifier}",
            add,
            "aws",
        )
    if status == "INVALID":
        remove = aws_command("rds", "remove-role-from-db-cluster", *where, "--role-arn", role_arn)
        return broken(
            "association",
            f"the association of {role_arn} with db cluster {cluster.identifier} is INVALID "
            "(Aurora could not assume the role)",
            f"{remove}\n{add}",
            "aws",
        )
    if status != "ACTIVE":
        return broken(
            "association",
            f"the association of {role_arn} with db cluster {cluster.identifier} is {status}, "
            "not ACTIVE yet: wait, then check again",
            aws_command(
                "rds", "describe-db-clusters", *where, "--query", "DBClusters[0].AssociatedRoles"
            ),
            "aws",
        )
    return LinkResult("association", f"associated with db cluster {cluster.identifier}, ACTIVE")


def check_relay(
    clients: Clients, iam, config: AuroraAccessConfig, connection, relay: RelayCheck
) -> LinkResult:
    """The outbox relay's link: its function, the doorbell (Aurora may invoke it), and its
    account's rights on the outbox once the outbox exists."""
    arn = relay.function_arn
    name = arn.rsplit(":", 1)[1]
    lambda_client = clients.get("lambda", arn.split(":")[3])
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
    missing = uncovered_resources(role_policy_documents(iam, config.role_name), [arn])
    if missing:
        with_relay = replace(config, function_arns=(*config.function_arns, arn))
        return broken(
            "relay",
            f"the policies of iam role {config.role_name} do not allow {INVOKE_ACTION} on "
            f"{', '.join(missing)}: the outbox trigger's doorbell fails (swallowed), so events "
            "wait for the relay's schedule (up to a minute)",
            apply_command(with_relay),
            "aurora-events",
        )
    detail = f"function {name} exists; Aurora may invoke it (the doorbell)"
    if not (relay.account and relay.database):
        return LinkResult("relay", detail)
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
    lacking = db_grants.missing_relay_privileges(connection, user, host, relay.database)
    if lacking:
        statements = db_grants.relay_grant_statements(relay.database, user, host)
        return broken_sql(
            "relay",
            f"{account} lacks {', '.join(lacking)} on {relay.database}.{db_grants.OUTBOX_TABLE}: "
            "the relay cannot claim or mark events, so they wait",
            statements,
        )
    return LinkResult("relay", f"{detail}; {account} may work the outbox of {relay.database}")


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


# -- the walk ----------------------------------------------------------------------------


def path_checks(clients: Clients, path: PathCheck, connection):
    """The ingest path's links, in order (those a stand-in serves left out)."""
    names = PathNames(path, Target.current())
    links = {
        "api": lambda: check_api(clients, names),
        "ingest": lambda: check_ingest(clients, names),
        "queue": lambda: check_queue(clients, names),
        "mapping": lambda: check_mapping(clients, names),
        "drain": lambda: check_drain(clients, names),
        "database": lambda: check_database(clients, names, connection),
    }
    for link in PATH_LINKS:
        if link not in path.skipped:
            yield links[link]()


def diagnose(
    config: AuroraAccessConfig,
    definer: str | None,
    connection,
    *,
    check_network: bool,
    probe_function: str | None = None,
    probe_connection=None,
    clients: Clients | None = None,
    relay: RelayCheck | None = None,
    schema: str | None = None,
    path: PathCheck | None = None,
    declared_triggers=None,
) -> Diagnosis:
    """Check the links in order; stop at the first broken one.

    ``connection`` is an admin connection. ``definer`` (``user@host``, optional): an
    account whose Lambda grant to check besides the triggers' definers. ``schema``: read
    the triggers installed there (None: not read; the grant is then ``definer``'s alone).
    ``path``: check the ingest path first. ``check_network``: check the route from the
    cluster's subnets to Lambda (False against a local endpoint, which has no network).
    The probe runs on ``probe_connection`` (default: ``connection``) as that connection's
    user. ``relay``: also check the outbox relay's link. ``declared_triggers``: what the
    schema's triggers should be (None: :mod:`migrations.declared`'s).
    """
    clients = clients or Clients()
    diagnosis = Diagnosis()
    iam = clients.iam()
    clusters = read_clusters(clients, config.cluster)
    checked_engine_major(config, clusters[0])
    installed = read_triggers(connection, schema) if schema else None
    triggers = [t for t in installed if t.managed] if installed is not None else None

    def checks():
        if path is not None:
            yield from path_checks(clients, path, connection)
        _, role, role_arn = access_identities(iam, config, clusters[0])
        yield check_role(config, clusters, role)
        yield check_policy(iam, config)
        for cluster in clusters:
            yield check_parameter(clients, config, cluster, role_arn)
        for cluster in clusters:
            yield check_association(cluster, role_arn)
        if installed is not None:
            yield check_triggers(
                installed,
                schema,
                declared.triggers if declared_triggers is None else declared_triggers,
                table_shapes(connection, schema),
                schema_revision(connection, schema),
                head_revision(),
            )
        yield check_grant(connection, definer, triggers)
        yield check_functions(clients, iam, config, triggers)
        if relay is not None:
            yield check_relay(clients, iam, config, connection, relay)
        if check_network:
            for cluster in clusters:
                yield check_route_to_lambda(clients, cluster)

    for result in checks():
        diagnosis.links.append(result)
        if not result.ok:
            break
    diagnosis.network_checked = check_network
    diagnosis.relay_checked = relay is not None
    diagnosis.skipped = dict(path.skipped) if path is not None else {}
    if path is None:
        diagnosis.skipped["the ingest path"] = "asked for Aurora's chain only"
    if triggers is None:
        diagnosis.skipped["triggers"] = "no database named to read them from"
    if diagnosis.finding:
        seen = {r.link for r in diagnosis.links}
        unwanted = set(diagnosis.skipped)  # a link named there is not "after the break"
        unwanted |= {"network"} if not check_network else set()
        unwanted |= {"relay"} if relay is None else set()
        unwanted |= {"triggers"} if triggers is None else set()
        unwanted |= set(PATH_LINKS) if path is None else set()
        wanted = [link for link in LINKS if link not in unwanted]
        diagnosis.not_checked = [link for link in wanted if link not in seen]
    if probe_function:
        diagnosis.probe = probe(probe_connection or connection, probe_function)
    return diagnosis
