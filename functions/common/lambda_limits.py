"""Lambda's invocation payload limits: the most bytes one Invoke request's body (the JSON
event, as sent, UTF-8) may have, by invocation type. The one place these figures live: the
relay sizes its batches under the synchronous one, and the local stack (the emulated
``lambda_async`` / ``lambda_sync`` and the local Invoke API) refuses what Lambda refuses.
No imports: the relay's zip takes this module in.

Figures from the Lambda quotas page and the Invoke API reference ("For synchronous
invocations, the maximum payload size is 6 MB. For asynchronous invocations, the maximum
payload size is 1 MB."). Lambda's own error for a synchronous request over the limit names
6,291,456 bytes (6 MiB). The asynchronous limit was 256 KB until 2025, which Lambda's error
named as 262,144 bytes, so 1 MB is taken as 1,048,576 bytes (inferred: no error text with
the new figure was found). A body of more bytes than the limit is refused; whether a body of
exactly the limit passes is not documented.
"""

from __future__ import annotations

# InvocationType Event: Aurora's lambda_async, Lambda's asynchronous invocation.
EVENT_PAYLOAD_BYTES = 1_048_576
# InvocationType RequestResponse: Aurora's lambda_sync, the relay's calls to its targets.
REQUEST_RESPONSE_PAYLOAD_BYTES = 6_291_456


def payload_limit(invocation_type: str) -> int:
    """The limit for ``invocation_type`` (``Event``; anything else is synchronous)."""
    return EVENT_PAYLOAD_BYTES if invocation_type == "Event" else REQUEST_RESPONSE_PAYLOAD_BYTES
