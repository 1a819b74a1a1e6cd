"""The SES identity the functions send from (``Deployment.email_from``).

Destroy leaves it alone: SES identities cannot be tagged, so nothing shows that this
project verified it rather than someone else."""

from __future__ import annotations

from collections.abc import Iterator

from infra.aws.changes import Change
from infra.aws.resources.base import AwsResource


class EmailIdentity(AwsResource):
    """The sender's address is verified (or its verification asked for)."""

    key = "email-identity"

    def plan(self) -> Iterator[Change]:
        ses = self.context.client("ses")
        address = self.deployment.email_from
        known = ses.get_identity_verification_attributes(Identities=[address])[
            "VerificationAttributes"
        ]
        if address not in known:
            yield Change(
                f"ses identity {address}",
                "verify",
                "SES sends a verification email; sending works once it is confirmed",
                run=lambda: ses.verify_email_identity(EmailAddress=address),
            )
