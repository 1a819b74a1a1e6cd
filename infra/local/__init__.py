"""The local stack: a private MariaDB server, a moto server, Aurora's native Lambda
functions emulated on that server, and a runtime that delivers calls to the handlers."""
