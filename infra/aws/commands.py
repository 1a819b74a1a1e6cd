"""AWS subcommands: ``deploy plan|apply|destroy|rollback`` (the event path; rollback moves
the functions' alias ``live`` back one version), ``aurora plan|apply|destroy``
(Aurora's access to Lambda), ``grant`` and ``doctor``.

``register(subparsers, settings)`` adds them to the ``aurora-events`` parser; each sets
``run`` to a function that takes the parsed arguments (``args.settings``: the
:class:`~infra.aws.settings.Settings` they run with) and returns the exit code: 0 ok,
1 problems found (a broken link, a change the endpoint could not make), 2 bad input.
"""

from __future__ import annotations

import argparse

import boto3

from infra.aws import doctor
from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.order import KEYS as AURORA_KEYS
from infra.aws.aurora.order import plan_aurora_access
from infra.aws.aurora.order import plan_destroy as plan_aurora_destroy
from infra.aws.aurora.state import reboot_status
from infra.aws.changes import describe_plan
from infra.aws.command_support import (
    OK,
    PROBLEMS,
    access_config,
    add_admin_url_argument,
    admin_url,
    carry_out,
    connect_admin,
    exit_codes,
    print_outcome,
)
from infra.aws.function_versions import plan_rollback
from infra.aws.iam_roles import ADOPT_OPTION
from infra.aws.resources.context import Context
from infra.aws.resources.http_api import HttpApi
from infra.aws.resources.order import KEYS as RESOURCE_KEYS
from infra.aws.resources.order import plan, plan_destroy
from infra.aws.settings import Settings
from infra.catalog import FUNCTIONS, Deployment, function_spec
from infra.database import grants as db_grants

# -- deploy plan|apply|destroy -----------------------------------------------------------


def deploy_context(args) -> Context:
    """The deployment the deploy commands plan: the settings' under ``--prefix``."""
    from dataclasses import replace

    deployment = args.settings.deployment
    if args.prefix:
        deployment = replace(deployment, prefix=args.prefix)
    return Context(deployment, adopt_existing_roles=getattr(args, "adopt_existing_roles", False))


def only_keys(args) -> tuple[str, ...]:
    return tuple(getattr(args, "only", None) or ())


@exit_codes
def deploy_plan(args) -> int:
    print(describe_plan(plan(deploy_context(args), only_keys(args))))
    return OK


@exit_codes
def deploy_apply(args) -> int:
    context = deploy_context(args)
    outcome = carry_out(plan(context, only_keys(args)))
    if outcome.unsupported:
        print_outcome(outcome)
    else:
        print(describe_plan(outcome.done))
    invoke_url = context.resource(HttpApi).invoke_url()
    if invoke_url:
        print(f"invoke URL: {invoke_url}")
    return PROBLEMS if outcome.unsupported else OK


@exit_codes
def deploy_destroy(args) -> int:
    outcome = carry_out(plan_destroy(deploy_context(args), only_keys(args)))
    print_outcome(outcome)
    if not outcome.done and not outcome.unsupported:
        print("nothing to remove")
    print("the SES identity is left in place (SES identities carry no tags to prove it is ours)")
    return PROBLEMS if outcome.unsupported else OK


@exit_codes
def deploy_rollback(args) -> int:
    """Move alias live of the named function (or of every function) back one version."""
    deployment = args.settings.deployment
    prefix = args.prefix or deployment.prefix
    specs = [function_spec(args.function)] if args.function else list(FUNCTIONS)
    names = [Deployment(prefix=prefix).resource_name(spec.name) for spec in specs]
    outcome = carry_out(plan_rollback(boto3.client("lambda"), names))
    print_outcome(outcome)
    return OK


# -- aurora plan|apply|destroy -----------------------------------------------------------


@exit_codes
def aurora_plan(args) -> int:
    changes = plan_aurora_access(
        access_config(args),
        reboot=args.reboot,
        adopt_existing=args.adopt_existing_roles,
        only=args.only,
    )
    print(describe_plan(changes))
    return OK


def print_reboot_status(config: AuroraAccessConfig) -> None:
    for status in reboot_status(config):
        if status.pending_instances:
            print(
                f"reboot pending on db cluster {status.cluster} ({status.region}): "
                f"{', '.join(status.pending_instances)}; run again with --reboot, or reboot them"
            )


@exit_codes
def aurora_apply(args) -> int:
    config = access_config(args)
    outcome = carry_out(
        plan_aurora_access(
            config, reboot=args.reboot, adopt_existing=args.adopt_existing_roles, only=args.only
        )
    )
    print_outcome(outcome)
    if not outcome.done and not outcome.unsupported:
        print(describe_plan([]))
    print_reboot_status(config)
    return PROBLEMS if outcome.unsupported else OK


@exit_codes
def aurora_destroy(args) -> int:
    outcome = carry_out(plan_aurora_destroy(access_config(args), only=args.only))
    print_outcome(outcome)
    if not outcome.done and not outcome.unsupported:
        print("nothing to remove")
    return PROBLEMS if outcome.unsupported else OK


# -- grant -------------------------------------------------------------------------------


def print_statements(heading: str, statements: list[str]) -> None:
    """What ``grant`` ran, as a SQL comment and the statements, runnable by hand."""
    print(f"-- {heading}")
    for statement in statements:
        print(f"{statement};")


@exit_codes
def grant(args) -> int:
    """The triggers' definer (``--user``): Lambda access; the drain's account
    (``--drain-user``) and the outbox relay's (``--relay-user``): their table privileges in
    ``--database``, after the migrations."""
    from functions.common.config import ConfigurationError

    if not (args.user or args.drain_user or args.relay_user):
        raise ConfigurationError(
            "name an account: --user (the definer), --drain-user or --relay-user"
        )
    for option, value, what in (
        ("--drain-user", args.drain_user, "the schema the drain writes"),
        ("--relay-user", args.relay_user, "the schema whose outbox the relay works"),
    ):
        if value and not args.database:
            raise ConfigurationError(f"{option} needs --database: {what}")
    definer = (args.user, args.host) if args.user else None
    # Before any grant: the definer must not first get Lambda access, then be refused.
    for whose, user, host in (
        ("drain", args.drain_user, args.drain_host),
        ("relay", args.relay_user, args.relay_host),
    ):
        if user:
            db_grants.refuse_the_definer(whose, user, host, definer)
    admin = connect_admin(admin_url(args))
    try:
        if args.user:
            server, statements = db_grants.grant_lambda_access(admin, args.user, args.host)
            print_statements(f"{server.describe()}: the triggers' definer", statements)
        if args.drain_user:
            statements = db_grants.grant_drain_access(
                admin, args.drain_user, args.drain_host, args.database, definer=definer
            )
            print_statements(
                "the drain's account: the rows of the tables it writes, nothing else", statements
            )
        if args.relay_user:
            statements = db_grants.grant_relay_access(
                admin, args.relay_user, args.relay_host, args.database, definer=definer
            )
            counter = db_grants.hold_counter_exists(admin, args.database)
            what = "the outbox table and its hold counter" if counter else "the outbox table"
            print_statements(f"the relay's account: {what}, nothing else", statements)
    finally:
        admin.close()
    return OK


# -- doctor ------------------------------------------------------------------------------


def relay_check(args, config: AuroraAccessConfig, admin) -> doctor.RelayCheck | None:
    """The relay link to check: ``--relay-function``, else the catalog's relay when the
    functions are the catalog's; its account (``--relay-account``) on the admin URL's
    database."""
    arn = args.relay_function
    if arn is None:
        relay_name = Deployment(prefix=args.prefix).resource_name("relay")
        arn = next((a for a in config.function_arns if a.endswith(f":{relay_name}")), None)
    if arn is None:
        return None
    database = admin.db.decode() if admin.db else None
    return doctor.RelayCheck(arn, account=args.relay_account, database=database)


def path_check(args) -> doctor.PathCheck | None:
    """The ingest path to check: the settings' deployment under ``--prefix``, its callers
    on alias ``live`` (None with ``--aurora-only``)."""
    from dataclasses import replace

    if args.aurora_only:
        return None
    return doctor.PathCheck(replace(args.settings.deployment, prefix=args.prefix))


@exit_codes
def run_doctor(args) -> int:
    config = access_config(args)
    admin = connect_admin(admin_url(args))
    probe_connection = connect_admin(args.probe_url) if args.probe_url else None
    try:
        diagnosis = doctor.diagnose(
            config,
            args.definer,
            admin,
            # A custom endpoint (the local stack's moto) has no network to check.
            check_network=args.settings.endpoint_url is None,
            probe_function=args.probe_function,
            probe_connection=probe_connection,
            relay=relay_check(args, config, admin),
            # The triggers of --admin-url's database (none named: not read).
            schema=admin.db.decode() if admin.db else None,
            path=path_check(args),
        )
    finally:
        admin.close()
        if probe_connection is not None:
            probe_connection.close()
    print(doctor.render_diagnosis(diagnosis))
    return OK if diagnosis.ok else PROBLEMS


# -- the parser --------------------------------------------------------------------------


def add_chain_arguments(parser: argparse.ArgumentParser, deployment: Deployment) -> None:
    cluster = deployment.cluster
    parser.add_argument(
        "--cluster",
        default=cluster or None,
        required=not cluster,
        help="DB cluster identifier (Aurora MySQL; default: the config file's cluster)",
    )
    parser.add_argument(
        "--function-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="a function Aurora may invoke (repeatable; default: the catalog's deployed functions)",
    )
    parser.add_argument(
        "--prefix",
        default=deployment.prefix,
        help="prefix of the names (default: AURORA_EVENTS_PREFIX or aurora-events)",
    )


def add_adopt_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        ADOPT_OPTION,
        dest="adopt_existing_roles",
        action="store_true",
        help=f"take over (tag as this deployment's) the IAM {what} when they exist without "
        "this deployment's tags; without it, such a one stops the plan",
    )


def add_only_argument(parser: argparse.ArgumentParser, keys, what: str) -> None:
    """``--only KEY`` (repeatable): a part of the declared order, which the doctor's fixes
    name."""
    parser.add_argument(
        "--only",
        action="append",
        choices=list(keys),
        default=[],
        metavar="RESOURCE",
        help=f"only this {what} (repeatable): " + ", ".join(keys),
    )


def register(subparsers, settings: Settings) -> None:
    """Add ``deploy``, ``aurora``, ``grant`` and ``doctor`` to the ``aurora-events`` subcommands;
    ``settings`` give the options' defaults and reach each command as ``args.settings``."""
    deploy = subparsers.add_parser(
        "deploy", help="the event path: topics, queues, roles, functions, event source mapping"
    )
    deploy_commands = deploy.add_subparsers(dest="deploy_command", required=True)
    for name, run, text in (
        ("plan", deploy_plan, "show what apply would change; change nothing"),
        ("apply", deploy_apply, "converge (a second run changes nothing)"),
        ("destroy", deploy_destroy, "remove what apply created (resources tagged as ours)"),
        ("rollback", deploy_rollback, "move alias live back to the previous version"),
    ):
        command = deploy_commands.add_parser(name, help=text)
        command.add_argument("--prefix", help="prefix of the names (default: the settings')")
        if name in ("plan", "apply"):
            add_adopt_argument(command, "execution roles <prefix>-<function>")
        if name in ("plan", "apply", "destroy"):
            add_only_argument(command, RESOURCE_KEYS, "resource of the declared order")
        if name == "rollback":
            command.add_argument(
                "function",
                nargs="?",
                choices=[spec.name for spec in FUNCTIONS],
                help="the function (catalog name) to roll back (default: every function)",
            )
        command.set_defaults(run=run, settings=settings)

    aurora = subparsers.add_parser(
        "aurora", help="Aurora's access to Lambda: IAM policy and role, parameter, association"
    )
    aurora_commands = aurora.add_subparsers(dest="aurora_command", required=True)
    for name, run, text in (
        ("plan", aurora_plan, "show what apply would change"),
        ("apply", aurora_apply, "make the changes"),
        ("destroy", aurora_destroy, "remove what apply made (resources tagged as ours)"),
    ):
        command = aurora_commands.add_parser(name, help=text)
        add_chain_arguments(command, settings.deployment)
        add_only_argument(command, AURORA_KEYS, "link of the chain")
        if name != "destroy":
            command.add_argument(
                "--activate-all-roles-on-login",
                action="store_true",
                help="also set activate_all_roles_on_login = 1 (Aurora MySQL v3)",
            )
            command.add_argument(
                "--reboot",
                action="store_true",
                help="reboot the instances when the parameters need it (downtime)",
            )
            add_adopt_argument(
                command, "role <prefix>-aurora-lambda and policy <prefix>-aurora-invoke-lambda"
            )
        command.set_defaults(run=run, settings=settings)

    grant_parser = subparsers.add_parser(
        "grant",
        help="database grants: Lambda access for the triggers' definer; table rights for the "
        "drain and the relay",
    )
    add_admin_url_argument(grant_parser, "mysql://admin:...@host:port/")
    grant_parser.add_argument("--user", help="the triggers' definer (the migration account)")
    grant_parser.add_argument("--host", default="%", help="the definer's host (default: %%)")
    grant_parser.add_argument(
        "--drain-user", help="the drain's runtime account (after the migrations ran)"
    )
    grant_parser.add_argument("--drain-host", default="%", help="its host (default: %%)")
    grant_parser.add_argument(
        "--relay-user", help="the outbox relay's runtime account (after the migrations ran)"
    )
    grant_parser.add_argument("--relay-host", default="%", help="its host (default: %%)")
    grant_parser.add_argument(
        "--database", help="the schema the drain writes / whose outbox the relay works"
    )
    grant_parser.set_defaults(run=grant, settings=settings)

    doctor_parser = subparsers.add_parser(
        "doctor",
        help="find the first broken link of the whole path (API, ingest, queue, mapping, "
        "drain, database; Aurora's access to Lambda, the triggers), and its fix",
    )
    add_chain_arguments(doctor_parser, settings.deployment)
    add_admin_url_argument(
        doctor_parser, "mysql://admin:...@host:port/db (the triggers of db are read)"
    )
    doctor_parser.add_argument(
        "--definer",
        metavar="USER@HOST",
        help="also check this account's Lambda grant (the triggers' definers are read from "
        "the database; this one is checked when none is installed yet)",
    )
    doctor_parser.add_argument(
        "--aurora-only",
        action="store_true",
        help="check only Aurora's access to Lambda, not the ingest path (API to database)",
    )
    doctor_parser.add_argument(
        "--probe-function",
        metavar="ARN",
        help="also call SELECT lambda_sync(ARN, '{\"ping\": 1}') and show the answer",
    )
    doctor_parser.add_argument(
        "--relay-function",
        metavar="ARN",
        help="the outbox relay to check (default: the catalog's, with the catalog's functions)",
    )
    doctor_parser.add_argument(
        "--relay-account",
        metavar="USER@HOST",
        help="the relay's database account: may it work the outbox (of --admin-url's database)?",
    )
    doctor_parser.add_argument(
        "--probe-url", help="run the probe as this account (default: --admin-url's)"
    )
    doctor_parser.set_defaults(run=run_doctor, settings=settings)
