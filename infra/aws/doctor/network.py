"""The ``network`` link of Aurora's access to Lambda: each subnet of the cluster's DB subnet
group routes to Lambda (a NAT or internet gateway), or its VPC has a Lambda interface
endpoint. A plan cannot see this (the network is not this project's to deploy), so it is
checked by hand: the route tables' pure reading, then the link."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra.aws.aurora.state import Clients, ClusterState
from infra.aws.doctor.diagnosis import LinkResult, aws_command, broken


@dataclass(frozen=True)
class RouteTable:
    identifier: str
    routes: tuple[Mapping, ...]


def route_to_internet(table: RouteTable) -> str | None:
    """How the table reaches the internet (``nat-…``, ``igw-…``), or None."""
    for route in table.routes:
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        for key in ("NatGatewayId", "GatewayId", "TransitGatewayId", "NetworkInterfaceId"):
            target = route.get(key)
            if target and target != "local":
                return target
    return None


def subnet_route_tables(tables: Iterable[Mapping], subnets: Iterable[str]) -> dict[str, RouteTable]:
    """Each subnet's route table: its explicit association, else the VPC's main table."""
    tables = list(tables)
    main = None
    explicit: dict[str, RouteTable] = {}
    for table in tables:
        parsed = RouteTable(table["RouteTableId"], tuple(table.get("Routes", [])))
        for association in table.get("Associations", []):
            if association.get("Main"):
                main = parsed
            elif association.get("SubnetId"):
                explicit[association["SubnetId"]] = parsed
    return {s: explicit[s] for s in subnets if s in explicit} | {
        s: main for s in subnets if s not in explicit and main is not None
    }


def check_route_to_lambda(clients: Clients, cluster: ClusterState) -> LinkResult:
    rds, ec2 = clients.rds(cluster.region), clients.get("ec2", cluster.region)
    group = rds.describe_db_subnet_groups(DBSubnetGroupName=cluster.subnet_group)["DBSubnetGroups"][
        0
    ]
    vpc = group["VpcId"]
    subnets = [s["SubnetIdentifier"] for s in group["Subnets"]]
    service = f"com.amazonaws.{cluster.region}.lambda"
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "service-name", "Values": [service]}]
    )["VpcEndpoints"]
    if any(e.get("State", "").lower() == "available" for e in endpoints):
        return LinkResult("network", f"VPC {vpc} has a Lambda interface endpoint")
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    routes = subnet_route_tables(tables, subnets)
    stranded = [s for s in subnets if s not in routes or route_to_internet(routes[s]) is None]
    if stranded:
        fix = aws_command(
            "ec2",
            "create-vpc-endpoint",
            "--region",
            cluster.region,
            "--vpc-id",
            vpc,
            "--vpc-endpoint-type",
            "Interface",
            "--service-name",
            service,
            "--subnet-ids",
            *subnets,
            "--security-group-ids",
            *cluster.security_groups,
            "--private-dns-enabled",
        )
        return broken(
            "network",
            f"subnet(s) {', '.join(stranded)} of db subnet group {cluster.subnet_group} have no "
            "route to Lambda (no NAT/internet gateway route, no Lambda endpoint in "
            f"{vpc}): Aurora reports 'Unable to connect to endpoint' (the security groups "
            "must allow HTTPS from the cluster to the endpoint)",
            fix,
            "aws",
        )
    via = sorted({route_to_internet(routes[s]) for s in subnets})
    return LinkResult("network", f"every subnet routes to the internet via {', '.join(via)}")
