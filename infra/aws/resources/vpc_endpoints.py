"""Optional interface VPC endpoints for Secrets Manager and Lambda
(``Deployment.vpc_endpoints``): the private route for subnets without a NAT gateway.

* ``com.amazonaws.<region>.secretsmanager``: the drain and the relay read their database
  secrets;
* ``com.amazonaws.<region>.lambda``: Aurora's ``lambda_async`` calls leave from the
  cluster's subnets, and the relay invokes its targets.

Both are in the deployment's subnets (one per availability zone: an interface endpoint takes
one subnet per zone), in the subnets' VPC, with private DNS on, so the SDKs' usual host
names resolve to them and nothing is configured in the functions or on the cluster. Their
one security group, ``<prefix>-endpoints``, admits HTTPS (443) from exactly the functions'
security groups (``security_group_ids``) and the cluster's (read from the cluster).

Each has an endpoint policy (:func:`endpoint_policy`) that lets through only principals of
this account, only what the path does, only on this deployment's resources:
``secretsmanager:GetSecretValue`` on the two database secrets, ``lambda:InvokeFunction`` on
the deployment's functions (any version or alias). With private DNS every call of that
service from the VPC goes through the endpoint: anything else in the VPC that calls
Secrets Manager or Lambda is refused there (give such a VPC its own route, or leave
``vpc_endpoints`` off).

Everything is tagged; ``plan_destroy`` (and ``plan`` with the setting off) removes what
carries the deployment's tags, and nothing else. An endpoint for one of these services that
another owner made in the VPC is refused: with private DNS, one per VPC answers the name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from botocore.exceptions import ClientError

from infra.aws.changes import Change, PlanError, wait_until
from infra.aws.resources.base import AwsResource, converge
from infra.aws.resources.vpc_endpoints_settings import (
    DNS_ATTRIBUTES,
    ENDPOINT_SERVICES,
    HTTPS_PORT,
    LEAVING_STATES,
    SECRET_SETTINGS,
    SECURITY_GROUP_NAME,
    ForeignEndpointError,
    describe_policy,
    endpoint_policy,
    endpoint_resources,
    https_rule,
    ingress_drift,
    is_live,
    one_subnet_per_zone,
    policy_matches,
    service_name,
)
from infra.aws.tags import is_project_resource, tag_list

# -- the plan ----------------------------------------------------------------------------


class VpcEndpoints(AwsResource):
    """Plans the endpoints of one deployment."""

    key = "vpc-endpoints"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.ec2 = context.client("ec2")
        self.rds = context.client("rds")
        self.group_name = self.deployment.resource_name(SECURITY_GROUP_NAME)
        self.services = {service_name(self.target.region, s): s for s in ENDPOINT_SERVICES}

    def plan(self) -> Iterator[Change]:
        """With ``vpc_endpoints`` on: the security group and both endpoints, as declared (and
        ours in another VPC removed); off: remove ours."""
        if not self.deployment.vpc_endpoints:
            yield from self.plan_destroy()
            return
        vpc, subnets = self._vpc_and_subnets()
        sources = set(self.deployment.security_group_ids) | set(self._cluster_groups())
        if not sources:
            raise PlanError(
                "vpc_endpoints: neither security_group_ids nor the cluster's security groups "
                "name a group: the endpoints would admit no one"
            )
        policies = self._policies()
        yield from self._plan_security_group(vpc, sources)
        for name, service in self.services.items():
            yield from self._plan_endpoint(vpc, name, subnets, policies[service])
        yield from self.plan_destroy(keep_vpc=vpc)

    def plan_destroy(self, keep_vpc: str | None = None) -> list[Change]:
        """Delete the endpoints, then the security group: only those with the deployment's
        tags (and not those in ``keep_vpc``)."""
        changes = []
        for endpoint in self._our_endpoints():
            if endpoint["VpcId"] != keep_vpc:
                identifier = endpoint["VpcEndpointId"]
                changes.append(
                    Change(
                        f"vpc endpoint {identifier}",
                        "delete",
                        f"{endpoint['ServiceName']} in {endpoint['VpcId']}",
                        run=lambda identifier=identifier: self._delete_endpoint(identifier),
                    )
                )
        for group in self._our_groups():
            if group["VpcId"] != keep_vpc:
                changes.append(
                    Change(
                        f"security group {self.group_name}",
                        "delete",
                        f"{group['GroupId']} in {group['VpcId']}",
                        run=lambda group_id=group["GroupId"]: self._delete_group(group_id),
                    )
                )
        return changes

    # -- what the settings name ----------------------------------------------------------

    def _vpc_and_subnets(self) -> tuple[str, list[str]]:
        """The subnets' VPC (checked: one, with DNS for private names) and one subnet per zone."""
        order = list(self.deployment.subnet_ids)
        if not order:
            raise PlanError(
                "vpc_endpoints is on but subnet_ids is not set: the endpoints go in the "
                "deployment's subnets"
            )
        try:
            subnets = self.ec2.describe_subnets(SubnetIds=order)["Subnets"]
        except ClientError as error:
            raise PlanError(f"vpc_endpoints: {error.response['Error']['Message']}") from None
        vpcs = sorted({subnet["VpcId"] for subnet in subnets})
        if len(vpcs) != 1:
            raise PlanError(
                f"vpc_endpoints: subnet_ids are in {len(vpcs)} VPCs ({', '.join(vpcs)}); "
                "the endpoints serve one VPC"
            )
        vpc = vpcs[0]
        for attribute, key in DNS_ATTRIBUTES.items():
            value = self.ec2.describe_vpc_attribute(VpcId=vpc, Attribute=attribute)[key]["Value"]
            if not value:
                raise PlanError(
                    f"vpc_endpoints: VPC {vpc} has {attribute} off; the endpoints' private DNS "
                    "(the usual service names answered inside the VPC) needs enableDnsSupport "
                    f"and enableDnsHostnames: aws ec2 modify-vpc-attribute --vpc-id {vpc} "
                    f"--{attribute.replace('enableDns', 'enable-dns-').lower()} "
                    "'{\"Value\": true}'"
                )
        return vpc, one_subnet_per_zone(subnets, order)

    def _policies(self) -> dict[str, dict]:
        """Each endpoint's policy, by service (the secrets' settings checked)."""
        if not any(getattr(self.deployment, name) for name in SECRET_SETTINGS):
            raise PlanError(
                "vpc_endpoints is on but neither database_secret_id nor "
                "relay_database_secret_id is set: the Secrets Manager endpoint lets through "
                "only the deployment's secrets"
            )
        return {
            service: endpoint_policy(
                service,
                self.target.account,
                endpoint_resources(service, self.deployment, self.target),
            )
            for service in ENDPOINT_SERVICES
        }

    def _cluster_groups(self) -> list[str]:
        """The cluster's security groups: Aurora's calls to Lambda leave from them."""
        identifier = self.deployment.cluster
        if not identifier:
            raise PlanError(
                "vpc_endpoints is on but cluster is not set: the Lambda endpoint admits the "
                "cluster's security groups (Aurora's calls to Lambda)"
            )
        try:
            cluster = self.rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
        except self.rds.exceptions.DBClusterNotFoundFault:
            raise PlanError(f"vpc_endpoints: cluster {identifier!r} does not exist") from None
        return [group["VpcSecurityGroupId"] for group in cluster.get("VpcSecurityGroups", [])]

    # -- the security group --------------------------------------------------------------

    def _group(self, vpc: str) -> dict | None:
        groups = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "group-name", "Values": [self.group_name]},
                {"Name": "vpc-id", "Values": [vpc]},
            ]
        )["SecurityGroups"]
        return groups[0] if groups else None

    def _plan_security_group(self, vpc: str, sources: set[str]) -> Iterator[Change]:
        resource = f"security group {self.group_name}"
        admits = f"HTTPS ({HTTPS_PORT}) from {', '.join(sorted(sources))}"

        def create() -> None:
            group_id = self.ec2.create_security_group(
                GroupName=self.group_name,
                Description="Interface VPC endpoints: HTTPS from the functions and the cluster",
                VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(self.tags)}],
            )["GroupId"]
            self.ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[https_rule(sources)]
            )

        def drift(group: dict) -> list[str]:
            missing, revoke = ingress_drift(group.get("IpPermissions", []), sources)
            if not (missing or revoke):
                return []
            removed = sorted(
                pair["GroupId"] for rule in revoke for pair in rule.get("UserIdGroupPairs", [])
            )
            return [
                f"admit only {admits}" + (f" (no longer {', '.join(removed)})" if removed else "")
            ]

        def update(group: dict):
            missing, revoke = ingress_drift(group.get("IpPermissions", []), sources)

            def run() -> None:
                if revoke:
                    self.ec2.revoke_security_group_ingress(
                        GroupId=group["GroupId"], IpPermissions=revoke
                    )
                if missing:
                    self.ec2.authorize_security_group_ingress(
                        GroupId=group["GroupId"], IpPermissions=[https_rule(missing)]
                    )

            return run

        yield from converge(
            resource,
            self._group(vpc),
            create=lambda: [
                Change(resource, "create", f"in {vpc}, admitting {admits}", run=create)
            ],
            ours=lambda group: is_project_resource(group.get("Tags", []), self.deployment.prefix),
            foreign=ForeignEndpointError,
            identify=lambda group: f"{group['GroupId']} in {vpc}",
            drift=drift,
            update=update,
        )

    def _delete_group(self, group_id: str) -> None:
        # The endpoints' network interfaces go a little after the endpoints: until then the
        # group is in use.
        def deleted() -> bool:
            try:
                self.ec2.delete_security_group(GroupId=group_id)
            except ClientError as error:
                if error.response["Error"]["Code"] == "DependencyViolation":
                    return False
                raise
            return True

        wait_until(deleted, f"security group {group_id} deleted", timeout_seconds=600)

    # -- the endpoints -------------------------------------------------------------------

    def _plan_endpoint(
        self, vpc: str, name: str, subnets: list[str], policy: dict
    ) -> Iterator[Change]:
        resource = f"vpc endpoint {name}"
        found = self.ec2.describe_vpc_endpoints(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "service-name", "Values": [name]},
            ]
        )["VpcEndpoints"]
        live = [endpoint for endpoint in found if is_live(endpoint)]
        ours = [e for e in live if is_project_resource(e.get("Tags", []), self.deployment.prefix)]
        if live and not ours:
            raise ForeignEndpointError(
                f"{resource}: {live[0]['VpcEndpointId']} already serves {name} in {vpc} but "
                "does not carry this deployment's tags; with private DNS only one endpoint per "
                "VPC answers the service's name. Keep it and turn vpc_endpoints off, or delete it"
            )
        admits = describe_policy(policy)
        if not ours:
            yield Change(
                resource,
                "create",
                f"interface, private DNS, in {', '.join(subnets)}, group {self.group_name}; "
                f"policy: {admits}",
                run=lambda: self._create_endpoint(vpc, name, subnets, policy),
            )
            return
        endpoint = ours[0]
        group = self._group(vpc)
        differing = []
        if sorted(endpoint.get("SubnetIds", [])) != sorted(subnets):
            differing.append(f"subnets -> {', '.join(subnets)}")
        if group is None or [g["GroupId"] for g in endpoint.get("Groups", [])] != [
            group["GroupId"]
        ]:
            differing.append(f"security group -> {self.group_name}")
        if not endpoint.get("PrivateDnsEnabled"):
            differing.append("private DNS -> on")
        if not policy_matches(endpoint.get("PolicyDocument"), policy):
            differing.append(f"policy -> {admits}")
        if differing:
            yield Change(
                resource,
                "update",
                "; ".join(differing),
                run=lambda: self._update_endpoint(endpoint["VpcEndpointId"], vpc, subnets, policy),
            )

    def _create_endpoint(self, vpc: str, name: str, subnets: list[str], policy: dict) -> None:
        self.ec2.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=vpc,
            ServiceName=name,
            SubnetIds=subnets,
            SecurityGroupIds=[self._group(vpc)["GroupId"]],  # made by an earlier change
            PrivateDnsEnabled=True,
            PolicyDocument=json.dumps(policy),
            TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tag_list(self.tags)}],
        )

    def _update_endpoint(self, identifier: str, vpc: str, subnets: list[str], policy: dict) -> None:
        endpoint = self.ec2.describe_vpc_endpoints(VpcEndpointIds=[identifier])["VpcEndpoints"][0]
        subnets_now = set(endpoint.get("SubnetIds", []))
        groups_now = {group["GroupId"] for group in endpoint.get("Groups", [])}
        group = self._group(vpc)["GroupId"]
        changes = {
            "AddSubnetIds": sorted(set(subnets) - subnets_now),
            "RemoveSubnetIds": sorted(subnets_now - set(subnets)),
            "AddSecurityGroupIds": sorted({group} - groups_now),
            "RemoveSecurityGroupIds": sorted(groups_now - {group}),
        }
        arguments = {key: value for key, value in changes.items() if value}
        if not endpoint.get("PrivateDnsEnabled"):
            arguments["PrivateDnsEnabled"] = True
        if not policy_matches(endpoint.get("PolicyDocument"), policy):
            arguments["PolicyDocument"] = json.dumps(policy)
        self.ec2.modify_vpc_endpoint(VpcEndpointId=identifier, **arguments)

    def _delete_endpoint(self, identifier: str) -> None:
        self.ec2.delete_vpc_endpoints(VpcEndpointIds=[identifier])

        def gone() -> bool:
            try:
                found = self.ec2.describe_vpc_endpoints(VpcEndpointIds=[identifier])
            except ClientError as error:
                if "NotFound" in error.response["Error"]["Code"]:
                    return True
                raise
            return all(str(e.get("State")).lower() == "deleted" for e in found["VpcEndpoints"])

        wait_until(gone, f"vpc endpoint {identifier} deleted", timeout_seconds=600)

    # -- what is ours --------------------------------------------------------------------

    def _tag_filters(self) -> list[dict]:
        return [{"Name": f"tag:{key}", "Values": [value]} for key, value in self.tags.items()]

    def _our_endpoints(self) -> list[dict]:
        found = self.ec2.describe_vpc_endpoints(
            Filters=[
                *self._tag_filters(),
                {"Name": "service-name", "Values": list(self.services)},
            ]
        )["VpcEndpoints"]
        return [e for e in found if str(e.get("State", "")).lower() not in LEAVING_STATES]

    def _our_groups(self) -> list[dict]:
        return self.ec2.describe_security_groups(
            Filters=[*self._tag_filters(), {"Name": "group-name", "Values": [self.group_name]}]
        )["SecurityGroups"]
