"""The optional RDS Proxy in front of the cluster, for the drain (``Deployment.rds_proxy``).

When on, ``plan`` makes: an IAM role ``<prefix>-proxy`` that only ``rds.amazonaws.com`` may
assume, on behalf of a proxy of this account and region (``aws:SourceAccount``,
``aws:SourceArn``: :func:`proxy_source_conditions`), and whose one inline policy lets it
read the drain's database secret (and decrypt it through Secrets Manager when a
customer-managed KMS key encrypts it: nothing else); the proxy ``<prefix>-proxy`` (engine
family MYSQL, TLS required, that secret as its one login, in the deployment's subnets and
security groups); and the cluster registered as the target of its default target group.
The functions that log in with that secret (the drain) get the proxy's endpoint as
``DATABASE_HOST`` and ``DATABASE_TLS=true``: the proxy refuses clients without TLS, and
the client then checks the proxy's certificate.

The relay's secret is not registered, and the relay keeps connecting to the cluster: it runs
one or two at a time (nothing to pool), it holds its connection for a whole run, and on
Aurora v2 it takes a named lock (``GET_LOCK``), which pins a proxied connection to one
database connection anyway; so the proxy's role reads one secret, not two.

When off, ``plan_retirement`` removes a proxy and role this deployment made (after the
functions have stopped using it); ``plan_destroy`` removes them with the rest. Only what
carries the deployment's tags is touched; a proxy of this name without them is refused.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping

from botocore.exceptions import ClientError

from infra.aws.changes import Change, PlanError, call_unless_unsupported, wait_until
from infra.aws.iam_roles import (
    ForeignResourceError,
    inline_policy_names,
    plan_inline_policy,
    plan_service_role,
    role_tags,
)
from infra.aws.policy_documents import source_conditions
from infra.aws.resources.base import AwsResource
from infra.aws.tags import is_project_resource, tag_list
from infra.catalog import Deployment, FunctionSpec, Setting

PROXY_NAME = "proxy"  # deployed as <prefix>-proxy, the proxy and its role alike
RDS_SERVICE = "rds.amazonaws.com"
ROLE_POLICY_NAME = "read-database-secret"
ENGINE_FAMILY = "MYSQL"
TARGET_GROUP = "default"
# The proxy logs in with the drain's secret; a function whose DATABASE_SECRET_ID is this
# setting connects through the proxy.
PROXIED_SECRET_SETTING = "database_secret_id"
# What RDS Proxy fronts with engine family MYSQL ("aurora" is Aurora MySQL 5.6).
MYSQL_ENGINES = ("aurora-mysql", "aurora", "mysql")
# Settings RDS Proxy cannot change on an existing proxy: a new proxy replaces it.
REPLACED_ON_CHANGE = ("EngineFamily", "VpcSubnetIds")
# Proxy states that need someone to act (a network, quota, role or secret problem).
STUCK_STATES = ("incompatible-network", "insufficient-resource-limits", "suspended")


class ForeignProxyError(ForeignResourceError):
    """A proxy with this deployment's name exists without its tags: not ours to change."""


# -- pure helpers ------------------------------------------------------------------------


def missing_settings(deployment: Deployment) -> list[str]:
    """The settings a proxy needs that ``deployment`` leaves empty."""
    needed = ("cluster", "subnet_ids", "security_group_ids", PROXIED_SECRET_SETTING)
    return [name for name in needed if not getattr(deployment, name)]


def proxy_role_policy(secret_arn: str, key_arn: str | None = None, region: str = "") -> dict:
    """The proxy role's one policy: read the secret; decrypt it only through Secrets Manager,
    and only when ``key_arn`` (a customer-managed KMS key) encrypts it."""
    statements = [
        {
            "Sid": "ReadDatabaseSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secret_arn,
        }
    ]
    if key_arn:
        statements.append(
            {
                "Sid": "DecryptDatabaseSecret",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def proxy_source_conditions(target) -> dict:
    """RDS may assume the proxy's role only for a proxy of ``target``'s account and region.

    A proxy's ARN ends in an id RDS makes when it creates the proxy (``db-proxy:prx-…``),
    and the role must trust the proxy before it exists (the proxy is created with it, and
    a replaced proxy gets a new id): so the ARN is the pattern of every proxy of the
    account and region (``ArnLike``), the same on every apply."""
    return source_conditions(
        target.account, [target.arn("rds", "db-proxy:*")], arn_operator="ArnLike"
    )


def proxy_settings(name: str, role_arn: str, secret_arn: str, subnets, security_groups) -> dict:
    """The ``CreateDBProxy`` arguments of the declared proxy (tags aside)."""
    return {
        "DBProxyName": name,
        "EngineFamily": ENGINE_FAMILY,
        "Auth": [
            {
                "AuthScheme": "SECRETS",
                "SecretArn": secret_arn,
                "IAMAuth": "DISABLED",
                "Description": "the drain's database account",
            }
        ],
        "RoleArn": role_arn,
        "VpcSubnetIds": list(subnets),
        "VpcSecurityGroupIds": list(security_groups),
        "RequireTLS": True,
    }


def _comparable(settings: Mapping, key: str):
    if key == "Auth":
        return sorted(auth.get("SecretArn", "") for auth in settings.get("Auth", []))
    if key in ("VpcSubnetIds", "VpcSecurityGroupIds"):
        return sorted(settings.get(key, []))
    return settings.get(key)


def proxy_drift(current: Mapping, wanted: Mapping) -> list[str]:
    """The settings of ``wanted`` (:func:`proxy_settings`) that the proxy ``current`` (as
    ``DescribeDBProxies`` returns it) does not have; for Auth, its secrets."""
    keys = ("EngineFamily", "RoleArn", "Auth", "RequireTLS", "VpcSecurityGroupIds", "VpcSubnetIds")
    return [key for key in keys if _comparable(current, key) != _comparable(wanted, key)]


def registered_clusters(targets: list[dict]) -> set[str]:
    """The clusters a proxy's target group holds (``DescribeDBProxyTargets``)."""
    return {t["RdsResourceId"] for t in targets if t.get("Type") == "TRACKED_CLUSTER"}


def uses_proxy(spec: FunctionSpec) -> bool:
    """The function logs in with the secret the proxy holds (the drain)."""
    return spec.environment.get("DATABASE_SECRET_ID") == Setting(PROXIED_SECRET_SETTING)


# -- the plan ----------------------------------------------------------------------------


class RdsProxy(AwsResource):
    """Plans the proxy of one deployment."""

    key = "rds-proxy"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.iam = context.client("iam")
        self.rds = context.client("rds")
        self.secrets = context.client("secretsmanager")
        self.kms = context.client("kms")
        self.adopt_existing_roles = context.adopt_existing_roles
        self.name = self.deployment.resource_name(PROXY_NAME)
        # The endpoint of a proxy this plan replaces: the functions must not keep it.
        self._replaced_endpoint: str | None = None

    @property
    def role_arn(self) -> str:
        return self.target.arn("iam", f"role/{self.name}", regional=False)

    def current(self) -> dict | None:
        """The proxy as RDS describes it, or None."""
        try:
            return self.rds.describe_db_proxies(DBProxyName=self.name)["DBProxies"][0]
        except self.rds.exceptions.DBProxyNotFoundFault:
            return None

    def endpoint(self) -> str | None:
        """The proxy's endpoint, or None while it does not exist (or is being replaced)."""
        proxy = self.current()
        if proxy is None or proxy.get("Endpoint") == self._replaced_endpoint:
            return None
        return proxy.get("Endpoint")

    def client_environment(self, spec: FunctionSpec, environment: dict[str, str]) -> dict:
        """``environment`` of ``spec``, pointed at the proxy when the proxy is on and the
        function logs in with its secret. Read when a change runs, it names the endpoint of
        a proxy an earlier change of the same apply created."""
        if not (self.deployment.rds_proxy and uses_proxy(spec)):
            return environment
        host = self.endpoint() or f"<endpoint of rds proxy {self.name}>"
        # The proxy's certificate is from ACM, under Amazon's root CAs (the system's), not
        # the RDS bundle that database_tls_ca may name for the cluster itself.
        environment = {k: v for k, v in environment.items() if k != "DATABASE_TLS_CA"}
        return {**environment, "DATABASE_HOST": host, "DATABASE_TLS": "true"}

    def plan(self) -> Iterator[Change]:
        """With ``rds_proxy`` on: the role, its policy, the proxy and its target. Before the
        functions: the drain's environment names the proxy's endpoint."""
        self._replaced_endpoint = None  # as of this plan
        if not self.deployment.rds_proxy:
            return
        self._check_settings()
        cluster = self._cluster()
        secret = self._secret()
        yield from self._plan_role(secret)
        proxy = self.current()
        if proxy is not None and not self._ours(proxy):
            raise ForeignProxyError(
                f"rds proxy {self.name} exists but does not carry this deployment's tags; it "
                "may belong to something else. Delete it, or choose another prefix"
            )
        wanted = proxy_settings(
            self.name,
            self.role_arn,
            secret["ARN"],
            self.deployment.subnet_ids,
            self.deployment.security_group_ids,
        )
        yield from self._plan_proxy(proxy, wanted)
        yield from self._plan_target(proxy, cluster["DBClusterIdentifier"])

    def plan_retirement(self) -> list[Change]:
        """With ``rds_proxy`` off: remove the proxy and role this deployment made. After the
        functions, which by then no longer connect through it."""
        return [] if self.deployment.rds_proxy else self.plan_destroy()

    def plan_destroy(self) -> list[Change]:
        """Delete the proxy, then its role: only what carries the deployment's tags."""
        changes = []
        proxy = self.current()
        if proxy is not None and self._ours(proxy):
            changes.append(Change(f"rds proxy {self.name}", "delete", run=self._delete))
        with contextlib.suppress(self.iam.exceptions.NoSuchEntityException):
            if is_project_resource(role_tags(self.iam, self.name), self.deployment.prefix):
                changes.append(Change(f"iam role {self.name}", "delete", run=self._delete_role))
        return changes

    # -- checks --------------------------------------------------------------------------

    def _check_settings(self) -> None:
        missing = missing_settings(self.deployment)
        if missing:
            raise PlanError(
                f"rds_proxy is on but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: the proxy needs the cluster "
                "it fronts, subnets and security groups to run in, and the drain's secret "
                f"({PROXIED_SECRET_SETTING}) to log in with"
            )
        if self.deployment.database_host:
            raise PlanError(
                f"rds_proxy is on and database_host is set ({self.deployment.database_host!r}): "
                f"the drain connects to one host. Leave database_host empty to use the proxy "
                f"{self.name}, or turn rds_proxy off to use database_host"
            )

    def _cluster(self) -> dict:
        identifier = self.deployment.cluster
        try:
            cluster = self.rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
        except self.rds.exceptions.DBClusterNotFoundFault:
            raise PlanError(f"rds_proxy: cluster {identifier!r} does not exist") from None
        if cluster.get("Engine") not in MYSQL_ENGINES:
            raise PlanError(
                f"rds_proxy: cluster {identifier!r} runs {cluster.get('Engine')!r}; the proxy "
                "(engine family MYSQL) fronts Aurora MySQL"
            )
        return cluster

    def _secret(self) -> dict:
        secret_id = getattr(self.deployment, PROXIED_SECRET_SETTING)
        try:
            return self.secrets.describe_secret(SecretId=secret_id)
        except self.secrets.exceptions.ResourceNotFoundException:
            raise PlanError(
                f"rds_proxy: database secret {secret_id!r} ({PROXIED_SECRET_SETTING}) "
                "does not exist in Secrets Manager"
            ) from None

    def _customer_key_arn(self, secret: dict) -> str | None:
        """The ARN of the customer-managed KMS key that encrypts the secret, if one does (an
        AWS-managed key needs no grant: its key policy admits Secrets Manager's callers)."""
        if not secret.get("KmsKeyId"):
            return None
        key = self.kms.describe_key(KeyId=secret["KmsKeyId"])["KeyMetadata"]
        return key["Arn"] if key.get("KeyManager") == "CUSTOMER" else None

    def _ours(self, proxy: dict) -> bool:
        tags = self.rds.list_tags_for_resource(ResourceName=proxy["DBProxyArn"])["TagList"]
        return is_project_resource(tags, self.deployment.prefix)

    # -- the role ------------------------------------------------------------------------

    def _plan_role(self, secret: dict) -> Iterator[Change]:
        role, changes = plan_service_role(
            self.iam,
            self.name,
            RDS_SERVICE,
            self.tags,
            f"RDS Proxy {self.name}: reads the drain's database secret",
            prefix=self.deployment.prefix,
            conditions=proxy_source_conditions(self.target),
            adopt=self.adopt_existing_roles,
        )
        yield from changes
        policy = proxy_role_policy(
            secret["ARN"], self._customer_key_arn(secret), self.target.region
        )
        yield from plan_inline_policy(
            self.iam, self.name, role is not None, ROLE_POLICY_NAME, policy
        )
        # Another inline policy would give the proxy more than the secret.
        if role is not None:
            for stray in set(inline_policy_names(self.iam, self.name)) - {ROLE_POLICY_NAME}:
                yield Change(
                    f"iam role {self.name} policy {stray}",
                    "delete",
                    "the proxy's role holds only " + ROLE_POLICY_NAME,
                    run=lambda stray=stray: self.iam.delete_role_policy(
                        RoleName=self.name, PolicyName=stray
                    ),
                )

    def _delete_role(self) -> None:
        for policy in inline_policy_names(self.iam, self.name):
            self.iam.delete_role_policy(RoleName=self.name, PolicyName=policy)
        self.iam.delete_role(RoleName=self.name)

    # -- the proxy -----------------------------------------------------------------------

    def _plan_proxy(self, proxy: dict | None, wanted: dict) -> Iterator[Change]:
        resource = f"rds proxy {self.name}"
        subnets = ", ".join(wanted["VpcSubnetIds"])
        if proxy is None:
            yield Change(
                resource,
                "create",
                f"engine {ENGINE_FAMILY}, TLS required, secret {wanted['Auth'][0]['SecretArn']}, "
                f"subnets {subnets}",
                run=lambda: self._create(wanted),
            )
            return
        drift = proxy_drift(proxy, wanted)
        if set(drift) & set(REPLACED_ON_CHANGE):
            # The new proxy has a new endpoint: the functions' changes must not keep the old.
            self._replaced_endpoint = proxy.get("Endpoint")
            yield Change(
                resource,
                "replace",
                f"{', '.join(drift)} differ; RDS Proxy cannot change "
                f"{' or '.join(REPLACED_ON_CHANGE)}: a new proxy (and endpoint) in {subnets}",
                run=lambda: self._replace(wanted),
            )
        elif drift:
            yield Change(
                resource,
                "update",
                ", ".join(drift),
                run=lambda: call_unless_unsupported(
                    self.rds,
                    "ModifyDBProxy",
                    lambda: self.rds.modify_db_proxy(
                        DBProxyName=self.name,
                        Auth=wanted["Auth"],
                        RequireTLS=wanted["RequireTLS"],
                        RoleArn=wanted["RoleArn"],
                        SecurityGroups=wanted["VpcSecurityGroupIds"],
                    ),
                ),
            )

    def _create(self, wanted: dict) -> None:
        # A role created seconds ago may not be usable yet (IAM is eventually consistent).
        for attempt in range(10):
            try:
                self.rds.create_db_proxy(**wanted, Tags=tag_list(self.tags))
                return
            except ClientError as error:
                message = error.response["Error"].get("Message", "").lower()
                if "role" not in message or attempt == 9:
                    raise
                time.sleep(3)

    def _delete(self) -> None:
        self.rds.delete_db_proxy(DBProxyName=self.name)
        wait_until(lambda: self.current() is None, f"rds proxy {self.name} deleted")

    def _replace(self, wanted: dict) -> None:
        self._delete()
        self._create(wanted)

    def _plan_target(self, proxy: dict | None, cluster: str) -> Iterator[Change]:
        registered = set() if proxy is None else self._registered()
        # A replaced proxy starts with an empty target group.
        if registered == {cluster} and self._replaced_endpoint is None:
            return
        strays = sorted(registered - {cluster})

        def register() -> None:
            wait_until(self._available, f"rds proxy {self.name} available")
            now = self._registered()  # the proxy may be new since the plan
            if now - {cluster}:
                self.rds.deregister_db_proxy_targets(
                    DBProxyName=self.name,
                    TargetGroupName=TARGET_GROUP,
                    DBClusterIdentifiers=sorted(now - {cluster}),
                )
            if cluster not in now:
                self.rds.register_db_proxy_targets(
                    DBProxyName=self.name,
                    TargetGroupName=TARGET_GROUP,
                    DBClusterIdentifiers=[cluster],
                )

        yield Change(
            f"rds proxy {self.name} target",
            "register",
            f"cluster {cluster} in target group {TARGET_GROUP}"
            + (f" (instead of {', '.join(strays)})" if strays else ""),
            run=register,
        )

    def _registered(self) -> set[str]:
        targets = self.rds.describe_db_proxy_targets(
            DBProxyName=self.name, TargetGroupName=TARGET_GROUP
        )["Targets"]
        return registered_clusters(targets)

    def _available(self) -> bool:
        """True once the proxy is available (targets can be registered only then); an error
        for a state it does not leave by itself."""
        status = (self.current() or {}).get("Status")
        if status in STUCK_STATES:
            raise RuntimeError(f"rds proxy {self.name} is {status}")
        return status == "available"


class RdsProxyRetirement(AwsResource):
    """With ``rds_proxy`` off: the proxy and role this deployment made, removed last (after
    the functions, which by then no longer connect through it). Destroy has nothing of
    its own to do: the proxy is destroyed as :class:`RdsProxy`."""

    key = "rds-proxy-retirement"

    def plan(self) -> list[Change]:
        return self.context.resource(RdsProxy).plan_retirement()
