"""The ingest path's last links: the drain, and the database it writes.

5. ``drain``: with ``rds_proxy`` on, the proxy's plan (``deploy apply --only rds-proxy``):
   ``<prefix>-proxy``, its role, settings and target the cluster; the drain's
   plan, its code aside (``deploy apply --only functions``): the function, its alias at a
   published version, its configuration as declared (the VPC the settings name, its
   secret, its ``DATABASE_HOST``: the proxy's endpoint with TLS when the proxy is on);
   the execution roles' plan is empty (the drain's role may read the secret: ``deploy
   apply --only roles``); the proxy's targets are AVAILABLE (their health: no plan sees
   it). What is optional and off is reported as not checked.
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
from infra.aws.doctor.path import PathNames, check_function
from infra.aws.doctor.plans import plan_link
from infra.aws.resources.execution_roles import ExecutionRoles
from infra.aws.resources.rds_proxy import RdsProxy
from infra.database import grants as db_grants
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
    """The drain's plans, its code aside: the proxy (when on) exists, the function is as
    declared (its VPC, its secret, its database host: the proxy's endpoint, with TLS), and
    the execution roles' (the drain's role may read its secret); then what no plan sees,
    the health of the proxy's targets."""
    deployment = names.deployment
    items = []
    if deployment.rds_proxy:
        # The drain's DATABASE_HOST is the proxy's endpoint: the proxy comes first.
        proxy = plan_link(
            "drain",
            {"rds-proxy": names.context.resource(RdsProxy).plan},
            # A proxy made anew has a new endpoint, which the drain's environment follows.
            lambda keys: names.deploy_apply_only([*keys, "functions"]),
            "",
            "the drain connects through the proxy: without it, or without its target, "
            "every batch fails",
        )
        if not proxy.ok:
            return proxy
    drain = check_function(
        names,
        "drain",
        "drain",
        "a drain not configured as declared (its VPC, its secret, its database host) may not "
        "reach the database",
    )
    if not drain.ok:
        return drain
    found = [drain.detail]
    if deployment.subnet_ids:
        found.append(f"in subnets {', '.join(sorted(deployment.subnet_ids))}")
    else:
        items.append("not checked: VPC (no subnet_ids set: the drain runs outside a VPC)")
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
    found.append(f"its role may read secret {deployment.database_secret_id}")
    if not deployment.rds_proxy:
        items.append("not checked: RDS Proxy (rds_proxy is off)")
        return LinkResult("drain", "; ".join(found), items=tuple(items))
    proxy = check_proxy_targets(clients, names)
    if not proxy.ok:
        return proxy
    found.append(proxy.detail)
    return LinkResult("drain", "; ".join(found), items=tuple(items))


def check_proxy_targets(clients: Clients, names: PathNames) -> LinkResult:
    """The drain's RDS Proxy's targets (registered: its plan) are AVAILABLE: their health,
    which no plan sees."""
    rds, name = clients.rds(), proxy_name(names)
    for target in rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]:
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
    present = db_grants.tables_present(connection, schema)
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
