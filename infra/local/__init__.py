"""The local stack: a private MariaDB server, a moto server, Aurora's native Lambda
functions emulated on that server, and a runtime that delivers calls to the handlers.

Importing it teaches the grant code (:mod:`infra.database.grants`) to recognise the
emulation: the database side never imports the local stack, the local stack registers."""

from infra.database.grants import register_server_detector
from infra.local.grant_dialects import detect_emulation

register_server_detector(detect_emulation)
