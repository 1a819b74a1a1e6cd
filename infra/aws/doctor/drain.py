"""The ingest path's last links: the drain, and the database it writes.

5. ``drain``: the function and its alias exist (the alias at a published version); in
   the VPC the settings name (subnets and security groups) when subnets are set; its
   secret (``database_secret_id``) exists; the execution roles' plan is empty (the drain's
   role may read the secret: ``deploy apply --only roles``); with ``rds_proxy``
   on, the proxy ``<prefix>-proxy`` exists, its targets are AVAILABLE, and the drain's
   ``DATABASE_HOST`` is the proxy's endpoint. What is optional and off is reported as not
   checked.
6. ``database``: the account in the drain's secret exists, may ``SELECT`` and ``INSERT``
   every table the drain writes (read with the admin connection), and the server
   accepts the secret's password (tried when its host is reachable from here).
"""

from __future__ import annotations

import json

import pymysql

from functions.common.database import DatabaseSettings, connect
from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult, aws_command, broken, broken_sql
from infra.aws.doctor.fixes import drain_grant_command
from infra.aws.doctor.path import PathNames, check_alias
from infra.aws.doctor.plans import plan_link
from infra.aws.resources.execution_roles import ExecutionRoles
from infra.database import grants as db_grants
from infra.database.statements import fetch_all
from sql import quote_string

# What describe-db-proxy-targets' TargetHealth.Reason means, and what to do about it.
PROXY_TARGET_REASONS = {
    "AUTH_FAILURE": "the proxy cannot log in with its secret: the secret's user and "
    "password must be an account of the cluster",
    "CONNECTION_FAILED": "the proxy cannot connect: the cluster's security groups must "
    "admit 3306 from the proxy's",
    "UNREACHABLE": "the proxy cannot reach the cluster: the cluster's security groups must "
    "admit 3306 from the proxy's, in the same VPC",
    "PENDING_PROXY_CAPACITY": "the proxy is scaling: wait, then check again",
    "INVALID_REPLICATION_STATE": "the target is not in a state the proxy can use",
}


def proxy_name(names: PathNames) -> str:
    return names.deployment.resource_name("proxy")


def check_drain(clients: Clients, names: PathNames) -> LinkResult:
    configuration = check_alias(clients, names, "drain", "drain")
    if isinstance(configuration, LinkResult):
        return configuration
    deployment = names.deployment
    caller = names.caller("drain")
    deploy, items, found = (
        names.deploy_apply(),
        [],
        [f"{caller} (version {configuration.get('Version')})"],
    )
    # The network: the deployment's VPC, when it names subnets.
    if deployment.subnet_ids:
        vpc = configuration.get("VpcConfig") or {}
        current = (sorted(vpc.get("SubnetIds") or []), sorted(vpc.get("SecurityGroupIds") or []))
        wanted = (sorted(deployment.subnet_ids), sorted(deployment.security_group_ids))
        if current != wanted:
            return broken(
                "drain",
                f"{caller} runs in subnets {', '.join(current[0]) or 'none'} with security "
                f"groups {', '.join(current[1]) or 'none'}, not the settings' subnets "
                f"{', '.join(wanted[0])} and groups {', '.join(wanted[1]) or 'none'}: it may "
                "not reach the database",
                deploy,
                "aurora-events",
            )
        found.append(f"in subnets {', '.join(wanted[0])}")
    else:
        items.append("not checked: VPC (no subnet_ids set: the drain runs outside a VPC)")
    # The secret, and the role's right to read it.
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    secret_id = variables.get("DATABASE_SECRET_ID")
    if not deployment.database_secret_id:
        return broken(
            "drain",
            "database_secret_id is not set: the drain does not know its database account",
            "set database_secret_id (the drain's account, RDS format), then " + deploy,
            "manual",
        )
    if secret_id != deployment.database_secret_id:
        return broken(
            "drain",
            f"{caller} reads secret {secret_id or '(none)'}, not the settings' "
            f"{deployment.database_secret_id}",
            deploy,
            "aurora-events",
        )
    secrets = clients.get("secretsmanager")
    try:
        secrets.describe_secret(SecretId=secret_id)
    except secrets.exceptions.ResourceNotFoundException:
        return broken(
            "drain",
            f"the drain's secret {secret_id} does not exist: every batch fails, and the "
            "messages reach the DLQ",
            f"create the secret {secret_id} (RDS format: username, password, host, port, "
            "dbname) for the drain's account",
            "manual",
        )
    # The execution roles' plan: the drain's role with its declared policy (the secret).
    roles = plan_link(
        "drain",
        {"roles": ExecutionRoles(names.context).plan},
        names.deploy_apply_only,
        "",
        "where the drain's role may not read its secret every batch fails (AccessDenied), "
        "and the messages reach the DLQ",
    )
    if not roles.ok:
        return roles
    found.append(f"its role may read secret {secret_id}")
    # The proxy, when the deployment has one.
    if not deployment.rds_proxy:
        items.append("not checked: RDS Proxy (rds_proxy is off)")
        return LinkResult("drain", "; ".join(found), items=tuple(items))
    proxy = check_proxy(clients, names, variables)
    if not proxy.ok:
        return proxy
    found.append(proxy.detail)
    return LinkResult("drain", "; ".join(found), items=tuple(items))


def check_proxy(clients: Clients, names: PathNames, variables: dict) -> LinkResult:
    """The drain's RDS Proxy: it exists, its targets are AVAILABLE, the drain uses it (its
    environment ``variables``: the proxy's endpoint as DATABASE_HOST, with TLS)."""
    database_host = variables.get("DATABASE_HOST")
    rds = clients.rds()
    name = proxy_name(names)
    try:
        (proxy,) = rds.describe_db_proxies(DBProxyName=name)["DBProxies"]
    except rds.exceptions.DBProxyNotFoundFault:
        return broken(
            "drain", f"no RDS Proxy {name} (rds_proxy is on)", names.deploy_apply(), "aurora-events"
        )
    targets = rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]
    cluster = names.deployment.cluster
    if not targets:
        fix = aws_command(
            "rds",
            "register-db-proxy-targets",
            "--db-proxy-name",
            name,
            "--db-cluster-identifiers",
            cluster or "<the cluster>",
        )
        return broken(
            "drain",
            f"RDS Proxy {name} has no target: its connections go nowhere",
            fix,
            "aws" if cluster else "manual",
        )
    for target in targets:
        health = target.get("TargetHealth")
        if health is None or health.get("State") == "AVAILABLE":
            continue
        state, reason = health.get("State"), health.get("Reason")
        what = f"target {target.get('RdsResourceId')} of RDS Proxy {name} is {state}" + (
            f" ({reason}: {health.get('Description')})" if reason else ""
        )
        if state == "REGISTERING" or reason == "PENDING_PROXY_CAPACITY":
            return broken(
                "drain",
                f"{what}: not AVAILABLE yet, wait, then check again",
                aws_command("rds", "describe-db-proxy-targets", "--db-proxy-name", name),
                "aws",
            )
        return broken(
            "drain",
            what,
            PROXY_TARGET_REASONS.get(reason, "see the proxy's logs (debug logging)"),
            "manual",
        )
    endpoint = proxy["Endpoint"]
    if database_host != endpoint:
        return broken(
            "drain",
            f"{names.caller('drain')} connects to {database_host or 'the secret’s host'}, "
            f"not RDS Proxy {name} ({endpoint})",
            names.deploy_apply(),
            "aurora-events",
        )
    if variables.get("DATABASE_TLS") != "true":
        return broken(
            "drain",
            f"{names.caller('drain')} connects to RDS Proxy {name} without TLS "
            "(DATABASE_TLS is not true): the proxy requires TLS and refuses it",
            names.deploy_apply(),
            "aurora-events",
        )
    return LinkResult("drain", f"through RDS Proxy {name} (TLS), its targets AVAILABLE")


# -- database ----------------------------------------------------------------------------


def check_database(clients: Clients, names: PathNames, connection) -> LinkResult:
    """The drain's account on the server ``connection`` (an admin connection) reaches."""
    secret_id = names.deployment.database_secret_id
    secrets = clients.get("secretsmanager")
    try:
        secret = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
        user, password = secret["username"], secret["password"]
    except (ValueError, KeyError, TypeError) as error:
        return broken(
            "database",
            f"the drain's secret {secret_id} is not in the RDS format (username, password, "
            f"host, port, dbname): {error!r}",
            f"put the drain's account in secret {secret_id} as JSON: username, password, "
            "host, port, dbname",
            "manual",
        )
    admin_database = connection.db.decode() if isinstance(connection.db, bytes) else connection.db
    schema = secret.get("dbname") or admin_database
    if not schema:
        return broken(
            "database",
            f"neither the drain's secret {secret_id} (dbname) nor --admin-url names the "
            "database the drain writes",
            f"add dbname to secret {secret_id}",
            "manual",
        )
    server = db_grants.detect_server(connection)
    hosts = db_grants.account_hosts(connection, server, user)
    if not hosts:
        return broken(
            "database",
            f"no account named {quote_string(user)} on this server (the user in the drain's "
            f"secret {secret_id}): every batch fails with ERROR 1045",
            f"CREATE USER {db_grants.account_literal(user, '%')} IDENTIFIED BY "
            f"'<the password in secret {secret_id}>'; then {drain_grant_command(user, schema)}",
            "manual",
        )
    present = {t for (t,) in fetch_all(connection, "grants/tables_present.sql", schema)}
    absent = [t for t in db_grants.drain_tables() if t not in present]
    if absent:
        return broken(
            "database",
            f"table(s) {', '.join(f'{schema}.{t}' for t in absent)} do not exist: the drain "
            "has nowhere to write",
            "alembic upgrade head (as the migration account)",
            "manual",
        )
    for host in hosts:
        lacking = db_grants.missing_drain_privileges(connection, user, host, schema)
        if lacking:
            account = db_grants.account_literal(user, host)
            what = "; ".join(f"{', '.join(p)} on {schema}.{t}" for t, p in lacking.items())
            statements = db_grants.drain_grant_statements(schema, user, host)
            return broken_sql(
                "database",
                f"the drain's account {account} lacks {what}: its batches fail (ERROR 1142) "
                "and the messages reach the DLQ",
                statements,
            )
    accounts = ", ".join(db_grants.account_literal(user, h) for h in hosts)
    detail = (
        f"the drain's account {accounts} may SELECT, INSERT "
        f"{', '.join(db_grants.drain_tables())} in {schema}"
    )
    login = try_login(secret, user, password, schema)
    if login is not None and login[0] == 1045:
        return broken(
            "database",
            f"the server refuses the password in the drain's secret {secret_id} for "
            f"{quote_string(user)} (ERROR 1045): every batch fails",
            f"set the password of {quote_string(user)} to the one in secret {secret_id} "
            "(ALTER USER … IDENTIFIED BY …), or put the account's password in the secret "
            "(aws secretsmanager put-secret-value)",
            "manual",
        )
    items = ()
    if login is None:
        detail += "; its login is accepted"
    else:
        where = f"{secret.get('host')}:{secret.get('port', 3306)}"
        unreachable = login[0] in (0, 2003, 2005, 2013)
        items = (
            f"login not tried: {where} is not reachable from here ({login[1]})"
            if unreachable
            else f"login at {where} failed: ERROR {login[0]} {login[1]}",
        )
    return LinkResult("database", detail, items=items)


def try_login(secret: dict, user: str, password: str, schema: str) -> tuple[int, str] | None:
    """Log in as the drain with its secret: None when accepted, else (code, message)."""
    if not secret.get("host"):
        return 0, "the secret names no host"
    settings = DatabaseSettings(
        host=str(secret.get("host") or ""),
        port=int(secret.get("port") or 3306),
        user=user,
        password=password,
        database=schema,
    )
    try:
        connect(settings).close()
    except pymysql.err.MySQLError as error:
        code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
        return code, " ".join(str(a) for a in error.args[1:]) or str(error)
    return None
