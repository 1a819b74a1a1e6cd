"""The deployment's dependencies layer, ``<prefix>-dependencies``: the third-party
libraries the functions import (:mod:`infra.aws.packaging` builds it).

The deployment's database CA bundle (``database_tls_ca``, a file on the deploying machine)
travels in it too: the functions read it at :data:`DATABASE_CA_ON_LAMBDA`.

A layer version is immutable and cannot be tagged, so each version this deployment
publishes says so in its description, with the SHA-256 of its content:
``aurora-events dependencies of <prefix>: pymysql==1.2.4 ...; sha256 <hex>``. The plan
publishes a version only when no version of the layer records the content's hash (an
unchanged re-deploy publishes nothing), and destroy deletes only versions whose
description names this deployment. Older versions stay until destroy: a function
version that a rollback returns to still uses the layer version it was published with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from infra.aws.changes import Change
from infra.aws.iam_roles import ForeignResourceError
from infra.aws.packaging import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    LayerPackage,
    build_layer,
    pinned_requirements,
)
from infra.aws.tags import PROJECT
from infra.catalog import Deployment, SettingError

LAYER_NAME = "dependencies"
# Where the layer holds the deployment's database CA bundle (database_tls_ca), and so
# where the functions read it: Lambda extracts a layer under /opt.
DATABASE_CA_IN_LAYER = "aurora-events/database-ca.pem"
DATABASE_CA_ON_LAMBDA = "/opt/" + DATABASE_CA_IN_LAYER
DESCRIPTION_LIMIT = 256  # Lambda's limit on a layer version's description
_RECORDED_HASH = re.compile(r"; sha256 ([0-9a-f]{64})$")


def layer_name(deployment: Deployment) -> str:
    return deployment.resource_name(LAYER_NAME)


def description_mark(prefix: str) -> str:
    """How every description of this deployment's layer versions begins."""
    return f"{PROJECT} dependencies of {prefix}: "


def layer_description(prefix: str, requirements: Iterable[str], digest: str) -> str:
    """The version's description: whose it is, what it holds, its content's hash (kept
    whole when the list of requirements must be shortened to fit)."""
    tail = f"; sha256 {digest}"
    head = description_mark(prefix) + " ".join(requirements)
    return head[: DESCRIPTION_LIMIT - len(tail)] + tail


def recorded_hash(description: str) -> str | None:
    """The content hash a description records, if it records one."""
    match = _RECORDED_HASH.search(description or "")
    return match.group(1) if match else None


class DependencyLayer:
    """Plans the layer holding ``libraries`` (import names) for one deployment."""

    def __init__(self, lambda_, deployment: Deployment, libraries: Iterable[str]) -> None:
        self.lambda_ = lambda_
        self.prefix = deployment.prefix
        self.name = layer_name(deployment)
        self.libraries = frozenset(libraries)
        self.database_ca = deployment.database_tls_ca
        self._package: LayerPackage | None = None
        self._arn: str | None = None

    def package(self) -> LayerPackage:
        """The layer's zip and content hash (built once)."""
        if self._package is None:
            self._package = build_layer(self.libraries, extra_files=self._extra_files())
        return self._package

    def _extra_files(self) -> dict[str, bytes]:
        """The database CA bundle, when the deployment names one (a file on this machine)."""
        if not self.database_ca:
            return {}
        try:
            return {DATABASE_CA_IN_LAYER: Path(self.database_ca).read_bytes()}
        except OSError as error:
            raise SettingError(
                f"database_tls_ca {self.database_ca!r} cannot be read ({error.strerror}): it "
                "names the CA bundle on this machine that the layer ships to the functions "
                "(for Aurora the RDS global bundle, global-bundle.pem)"
            ) from None

    def content(self) -> bytes:
        """The layer's zip."""
        return self.package().zip

    def requirements(self) -> list[str]:
        return pinned_requirements(self.libraries)

    def versions(self) -> list[dict]:
        """The layer's versions, newest first (every page); none when it does not exist."""
        found = [
            version
            for page in self.lambda_.get_paginator("list_layer_versions").paginate(
                LayerName=self.name
            )
            for version in page["LayerVersions"]
        ]
        return sorted(found, key=lambda version: version["Version"], reverse=True)

    def ours(self, version: dict) -> bool:
        return version.get("Description", "").startswith(description_mark(self.prefix))

    @property
    def version_arn(self) -> str:
        """The ARN of the version the functions use: found by :meth:`plan` (or looked up
        here, when the layer is not part of the plan: ``deploy apply --only functions``),
        or published by its change; else a placeholder that matches no function's layers."""
        if self._arn is None and self.libraries:
            self._arn = self._published_arn(self._own_versions())
        return self._arn or f"<the new version of layer {self.name}>"

    def _own_versions(self) -> list[dict]:
        versions = self.versions()
        foreign = [v["Version"] for v in versions if not self.ours(v)]
        if foreign:
            raise ForeignResourceError(
                f"lambda layer {self.name} has versions this deployment did not publish "
                f"({', '.join(map(str, foreign))}); it may belong to something else. Delete "
                "them or choose another prefix"
            )
        return versions

    def _published_arn(self, versions: list[dict]) -> str | None:
        """The version of ``versions`` that holds this content, if one does."""
        digest = self.package().content_hash
        for version in versions:
            if recorded_hash(version.get("Description", "")) == digest:
                return version["LayerVersionArn"]
        return None

    def plan(self) -> Iterator[Change]:
        """Nothing when a version of ours holds this content; else publish one."""
        if not self.libraries:
            return
        self._arn = self._published_arn(self._own_versions())
        if self._arn is None:
            yield Change(
                f"lambda layer {self.name}",
                "publish",
                f"{len(self.content()) / 1024:.0f} KiB: {', '.join(self.requirements())}",
                run=self._publish,
            )

    def _publish(self) -> None:
        published = self.lambda_.publish_layer_version(
            LayerName=self.name,
            Description=layer_description(
                self.prefix, self.requirements(), self.package().content_hash
            ),
            Content={"ZipFile": self.content()},
            CompatibleRuntimes=[LAMBDA_RUNTIME],
            CompatibleArchitectures=[LAMBDA_ARCHITECTURE],
        )
        self._arn = published["LayerVersionArn"]

    def plan_destroy(self) -> list[Change]:
        """Delete every version of the layer that this deployment published."""
        return [
            Change(
                f"lambda layer {self.name} version {version['Version']}",
                "delete",
                run=lambda number=version["Version"]: self.lambda_.delete_layer_version(
                    LayerName=self.name, VersionNumber=number
                ),
            )
            for version in self.versions()
            if self.ours(version)
        ]
