"""Which link of the whole path is broken, and the command that fixes it.

The path a write takes, in order — the doctor stops at the first broken link:

* the ingest path (:mod:`infra.aws.doctor.path`, :mod:`infra.aws.doctor.drain`):
  ``api`` → ``ingest`` → ``queue`` → ``mapping`` → ``drain`` → ``database``;
* Aurora's access to Lambda, which the row-event triggers need (:mod:`infra.aws.doctor.chain`:
  each link is the plan of one resource of the chain):

  1. ``role``, 2. ``policy``, 3. ``parameter`` (and the reboot it waits for),
  4. ``association``: broken when that resource's plan is not empty;
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

from dataclasses import replace

from infra.aws.aurora.config import AuroraAccessConfig
from infra.aws.aurora.context import AuroraContext
from infra.aws.aurora.state import Clients
from infra.aws.doctor.api import check_api
from infra.aws.doctor.chain import (
    RelayCheck,
    check_association,
    check_parameter,
    check_policy,
    check_relay,
    check_role,
    probe,
)
from infra.aws.doctor.diagnosis import Diagnosis
from infra.aws.doctor.drain import check_database, check_drain
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
from infra.aws.resources.context import Target
from migrations import declared
from migrations.function_arns import FunctionArn
from migrations.revisions import head_revision, schema_revision
from migrations.trigger_reader import read_triggers, table_shapes

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


# -- the walk ----------------------------------------------------------------------------


def invoked_functions(config: AuroraAccessConfig, relay: RelayCheck | None, triggers):
    """The configuration whose invoke policy the chain's links compare: the functions named,
    the relay (the outbox trigger's doorbell) and every function the triggers call."""
    called = [FunctionArn.find(arn) for t in triggers or () for arn in t.calls.invoked]
    extra = [relay.function_arn] if relay is not None else []
    extra += sorted({arn.function_arn for arn in called if arn is not None})
    missing = [arn for arn in dict.fromkeys(extra) if arn not in config.function_arns]
    return replace(config, function_arns=(*config.function_arns, *missing)) if missing else config


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
    installed = read_triggers(connection, schema) if schema else None
    triggers = [t for t in installed if t.managed] if installed is not None else None
    chain = AuroraContext(invoked_functions(config, relay, triggers), clients)

    def checks():
        if path is not None:
            yield from path_checks(clients, path, connection)
        yield check_role(chain)
        yield check_policy(chain)
        yield check_parameter(chain)
        yield check_association(chain)
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
        yield check_functions(clients, chain.iam, config, triggers)
        if relay is not None:
            yield check_relay(chain, connection, relay)
        if check_network:
            for cluster in chain.clusters:
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
