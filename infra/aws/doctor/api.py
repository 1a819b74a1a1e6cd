"""The ingest path's first link, ``api``: the HTTP API's plan
(:class:`~infra.aws.resources.http_api.HttpApi`: the API ``<prefix>-api`` with its tags, a
route per ingest resource integrated with the ingest function's alias, its stage and access
logs, and per route the alias's permission for API Gateway, scoped to that route) is empty;
and before it, the ingest function's (its alias, which the routes invoke). The other
links: :mod:`infra.aws.doctor.path`."""

from __future__ import annotations

from infra.aws.aurora.state import Clients
from infra.aws.doctor.diagnosis import LinkResult, broken
from infra.aws.doctor.path import PathNames, check_function, route_keys
from infra.aws.doctor.plans import plan_link
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.resources.http_api import HttpApi


def check_api(clients: Clients, names: PathNames) -> LinkResult:
    api = HttpApi(names.context)
    try:
        found = api.find_api()
    except ForeignResourceError as error:
        return broken("api", str(error), "delete it, or deploy with another prefix", "manual")
    if found is None:  # nothing deployed yet: the whole deploy is the fix
        return broken(
            "api",
            f"no HTTP API {names.api}: nothing serves {', '.join(route_keys())}",
            names.deploy_apply(),
            "aurora-events",
        )
    # The routes invoke the alias, and the permissions are on it: it must exist first.
    ingest = check_function(names, "api", "ingest", "the API's routes invoke it", missing=True)
    if not ingest.ok:
        return ingest
    stage = names.deployment.api_stage
    return plan_link(
        "api",
        {"http-api": api.plan},
        names.deploy_apply_only,
        f"HTTP API {names.api} ({found['ApiId']}): {', '.join(route_keys())} -> "
        f"{names.caller('ingest')}, stage {stage}, invoke permitted",
        "API Gateway answers 404 or 500 where a route, its integration, the stage or the "
        "invoke permission differs",
    )
