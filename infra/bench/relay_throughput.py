"""Relay throughput: events/s the outbox relay itself delivers, one relay and two side by
side on the same backlog.

The backlog is written as an application writes it: ``orders`` rows inserted in 1,000-row
statements through the table's real outbox trigger (its row events, ~300 bytes each). Each
relay is a process of its own (two relays in one process would share one interpreter's
lock) with its own connection as the relay's account, and runs the relay's public entry
point, :func:`~functions.relay.runs.run_relay` with an :class:`OutboxStore` and the default
:class:`RelaySettings` (the default claim size), until its claim comes back empty. The
target answers at once: an in-process call that encodes the request as the relay's handler
does before sending it (``invoke_target``), keeps the event ids and answers an empty batch
answer (every event delivered). Nothing else of the stack runs meanwhile.

Targets: one relay at least 5,000 events/s, two at least 1.7x one. Anchor: a Python
relay of a PostgreSQL outbox publishes 3,000-3,500 messages/s with one relay, ~5,000/s
with two.

What limits the rate shows in the CPU each side used: the relays' own (their Python) and
the database server's, next to the wall-clock time. The machine's load drifts, so each
size is run ``rounds`` times, one relay and two in turn; the table gives the median and
the spread.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sql
from functions.common.database import DatabaseSettings, ReusableConnection, connect
from functions.common.event_batches import BatchAnswer, batch_request
from functions.relay.delivery import RelaySettings
from functions.relay.outbox import OutboxStore
from functions.relay.runs import run_relay
from infra.bench.watched_rows import insert_rows
from infra.database.statements import fetch_all, fetch_value
from migrations.ordering_key import ordering_key_expression

RELAY_DATABASE = "relay_bench"
FILL_STATEMENT_ROWS = 1000
TARGET_ONE_RELAY = 5000.0  # events/s
TARGET_TWO_OVER_ONE = 1.7
ANCHOR = (
    "a Python relay of a PostgreSQL outbox: 3,000-3,500 messages/s with one relay, "
    "~5,000/s with two"
)
START_TIMEOUT_SECONDS = 60  # for the relay processes to start and connect
RUN_TIMEOUT_SECONDS = 600
LOCK_WAITS = "bench/row_lock_waits.sql"


@dataclass(frozen=True)
class RelayRun:
    """One run of ``relays`` relays side by side on a backlog of ``events`` events."""

    relays: int
    events: int  # in the backlog
    seconds: float  # from the relays' start to the last one's end
    sent: int  # events the target received, repeats included
    distinct: int  # distinct event ids the target received
    delivered: int  # outbox rows of the backlog marked delivered
    delivered_first_attempt: int  # ... of them at their first attempt
    relay_cpu_seconds: float  # the relays' processes' CPU, together
    server_cpu_seconds: float | None  # the database server's CPU (None: not known)
    payload_bytes: float  # the backlog's mean payload size
    lock_waits: int = 0  # row lock waits on the server during the run (server-wide)
    lock_wait_seconds: float = 0.0  # ... and the time spent in them

    @property
    def events_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def delivered_once(self) -> bool:
        """Every event of the backlog reached the target once, and its row says so."""
        return (
            self.sent == self.distinct == self.events
            and self.delivered == self.delivered_first_attempt == self.events
        )

    @property
    def relay_busy(self) -> float:
        """The share of its wall-clock time each relay spent on a CPU (1.0: its Python
        never waited for the server)."""
        return self.relay_cpu_seconds / (self.seconds * self.relays) if self.seconds else 0.0

    @property
    def server_busy(self) -> float | None:
        """The server's CPU over the wall-clock time (cores it kept busy)."""
        if self.server_cpu_seconds is None or not self.seconds:
            return None
        return self.server_cpu_seconds / self.seconds

    @property
    def relay_microseconds_per_event(self) -> float:
        """The relays' CPU per delivered event (less sensitive to the machine's load
        than the rate)."""
        return self.relay_cpu_seconds / self.delivered * 1e6 if self.delivered else 0.0

    @property
    def server_microseconds_per_event(self) -> float | None:
        if self.server_cpu_seconds is None or not self.delivered:
            return None
        return self.server_cpu_seconds / self.delivered * 1e6


@dataclass(frozen=True)
class RelayThroughput:
    events: int  # the backlog of each run
    one: list[RelayRun] = field(default_factory=list)  # one relay, a run per round
    two: list[RelayRun] = field(default_factory=list)  # two relays, a run per round

    @property
    def one_per_second(self) -> float:
        return statistics.median(run.events_per_second for run in self.one)

    @property
    def two_per_second(self) -> float:
        return statistics.median(run.events_per_second for run in self.two)

    @property
    def two_over_one(self) -> float:
        """Two relays' median rate over one's (target: at least 1.7)."""
        return self.two_per_second / self.one_per_second

    @property
    def delivered_once(self) -> bool:
        return all(run.delivered_once for run in self.one + self.two)

    @property
    def one_relay_microseconds(self) -> tuple[float, float | None]:
        """One relay's CPU and the server's per event (medians over the rounds)."""
        servers = [run.server_microseconds_per_event for run in self.one]
        return (
            statistics.median(run.relay_microseconds_per_event for run in self.one),
            None if None in servers else statistics.median(servers),
        )

    def lock_waits(self, runs: list[RelayRun]) -> tuple[float, float]:
        """The median row lock waits of ``runs`` and the median seconds spent in them."""
        return (
            statistics.median(run.lock_waits for run in runs),
            statistics.median(run.lock_wait_seconds for run in runs),
        )

    @property
    def one_relay_bound(self) -> float | None:
        """The rate one relay would reach on an idle machine: its Python and its
        statements take turns (the relay waits for each answer), so an event costs the
        relay's CPU plus the server's."""
        relay, server = self.one_relay_microseconds
        return None if server is None else 1e6 / (relay + server)


def spread(runs: list[RelayRun]) -> tuple[float, float]:
    """The lowest and highest rate of ``runs`` (events/s)."""
    rates = [run.events_per_second for run in runs]
    return min(rates), max(rates)


# -- the target and one relay, in a process of its own --------------------------------------


class InstantTarget:
    """The relay's ``invoke``: encodes the batch as the handler does before sending it,
    keeps the event ids, and answers at once that every event was delivered."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.answer = BatchAnswer().as_dict()

    def __call__(self, target: str, events: list[dict]) -> dict:
        json.dumps(batch_request(events), ensure_ascii=False).encode("utf-8")
        self.event_ids += [event["event_id"] for event in events]
        return self.answer


def relay_connection(settings: DatabaseSettings):
    """A connection made as the relay's handler makes its own (functions/relay/handler.py:
    its ``database``), to ``settings``' database."""
    return ReusableConnection(
        lambda: settings, autocommit=True, read_timeout=60, write_timeout=60
    ).get()


def relay_process(settings: DatabaseSettings, start, results, ordered: bool | None = None) -> None:
    """One relay: connect, wait for ``start`` (a barrier), run until nothing is due; put
    (end time, CPU seconds, event ids sent, error or None) on ``results``. ``ordered``:
    the claim by ordering key or not (None: as the outbox's revision says)."""
    try:
        connection = relay_connection(settings)
        store = OutboxStore(connection, ordered=ordered)
        target = InstantTarget()
        start.wait(START_TIMEOUT_SECONDS)
        cpu = time.process_time()
        run_relay(store, target, RelaySettings())
        ended = time.monotonic()
        results.put((ended, time.process_time() - cpu, target.event_ids, None))
        connection.close()
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises
        start.abort()  # the others need not wait for this one
        results.put((0.0, 0.0, [], f"{type(error).__name__}: {error}"))


def process_cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU seconds process ``pid`` used so far (Linux ``/proc``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_relays(
    relay_settings: DatabaseSettings,
    relays: int,
    server_pid: int | None = None,
    ordered: bool | None = None,
) -> tuple[float, float, float | None, list[str]]:
    """Start ``relays`` relay processes on the outbox of ``relay_settings``' database and
    let them go together; the seconds to the last one's end, their CPU seconds, the
    server's CPU seconds meanwhile, and every event id the target received."""
    context = multiprocessing.get_context("spawn")  # no state of this process inherited
    start = context.Barrier(relays + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=relay_process, args=(relay_settings, start, results, ordered), daemon=True
        )
        for _ in range(relays)
    ]
    for process in processes:
        process.start()
    try:
        # A relay that failed to start breaks the barrier: every relay reports, and the
        # error is raised below.
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(START_TIMEOUT_SECONDS)
        started = time.monotonic()
        server_before = process_cpu_seconds(server_pid)
        answers = [results.get(timeout=RUN_TIMEOUT_SECONDS) for _ in processes]
        server_after = process_cpu_seconds(server_pid)
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    errors = [error for *_, error in answers if error]
    if errors:
        raise RuntimeError(f"a relay failed: {errors[0]}")
    ended = max(end for end, *_ in answers)
    server = None if server_before is None else server_after - server_before
    sent = [event_id for _, _, ids, _ in answers for event_id in ids]
    return ended - started, sum(cpu for _, cpu, _, _ in answers), server, sent


# -- the backlog, and the measurement --------------------------------------------------------


def fill(connection, events: int) -> None:
    """Write ``events`` orders through their outbox trigger, FILL_STATEMENT_ROWS a
    statement: one event each."""
    with connection.cursor() as cursor:
        for start in range(0, events, FILL_STATEMENT_ROWS):
            insert_rows(cursor, "outbox", min(FILL_STATEMENT_ROWS, events - start))


def row_lock_waits(connection) -> tuple[int, float]:
    """The server's row lock waits so far, and the seconds spent in them."""
    counters = {name.lower(): int(value) for name, value in fetch_all(connection, LOCK_WAITS)}
    return counters["innodb_row_lock_waits"], counters["innodb_row_lock_time"] / 1000


def measure_run(
    app_connection,
    relay_settings: DatabaseSettings,
    relays: int,
    events: int,
    server_pid: int | None = None,
    keys: str | None = None,
    ordered: bool | None = None,
) -> RelayRun:
    """A fresh backlog of ``events`` events, delivered by ``relays`` relays side by side;
    ``keys``: the backlog's ordering keys (:data:`KEYS`), ``ordered``: the relays' claim."""
    after = fetch_value(app_connection, "bench/outbox_last_sequence.sql")
    fill(app_connection, events)
    if keys is not None:
        set_ordering_keys(app_connection, after, keys)
    waits_before, wait_seconds_before = row_lock_waits(app_connection)
    seconds, cpu, server, sent = run_relays(relay_settings, relays, server_pid, ordered)
    waits, wait_seconds = row_lock_waits(app_connection)
    ((backlog, delivered, first, payload_bytes),) = fetch_all(
        app_connection, "bench/relay_backlog.sql", after
    )
    return RelayRun(
        relays=relays,
        events=int(backlog),
        seconds=seconds,
        sent=len(sent),
        distinct=len(set(sent)),
        delivered=int(delivered),
        delivered_first_attempt=int(first),
        relay_cpu_seconds=cpu,
        server_cpu_seconds=server,
        payload_bytes=float(payload_bytes),
        lock_waits=waits - waits_before,
        lock_wait_seconds=wait_seconds - wait_seconds_before,
    )


# The backlog's ordering keys: each event its own row (INSERTs), or HOT_ROWS rows with many
# events each (UPDATEs of a few busy rows).
HOT_ROWS = 200
KEYS = {  # -> (the keys' table name, the primary-key value's expression)
    "distinct": ("orders", "JSON_UNQUOTE(JSON_EXTRACT(`payload`, '$.primary_key.id'))"),
    "hot": ("hot_rows", f"`sequence` MOD {HOT_ROWS}"),
}
# (name, backlog keys, the relays' claim): the same relay with and without the ordered
# claim on the same backlog, and the ordered claim on hot rows.
ORDERING_MODES = (
    ("unordered claim", "distinct", False),
    ("ordered claim, a key per event", "distinct", True),
    (f"ordered claim, {HOT_ROWS} hot keys", "hot", True),
)
TARGET_ORDERED_OVER_UNORDERED = 0.9


def set_ordering_keys(connection, after: int, keys: str) -> None:
    """Ordering keys on the backlog written after sequence ``after``."""
    (statement,) = sql.render(
        "bench/outbox_set_ordering_keys.sql",
        key=ordering_key_expression(KEYS[keys][0], [KEYS[keys][1]]),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, (after,))


@dataclass(frozen=True)
class OrderingCost:
    """The relay's throughput by :data:`ORDERING_MODES`: ``runs[mode][relays]``, a run a
    round."""

    events: int
    runs: dict[str, dict[int, list[RelayRun]]]

    def per_second(self, mode: str, relays: int) -> float:
        return statistics.median(run.events_per_second for run in self.runs[mode][relays])

    def over_unordered(self, mode: str, relays: int) -> float:
        """``mode``'s median rate over the unordered claim's (target: at least 0.9)."""
        return self.per_second(mode, relays) / self.per_second(ORDERING_MODES[0][0], relays)

    def cpu_per_event(self, mode: str, relays: int) -> float | None:
        """The CPU microseconds an event cost the relays and the server together (median
        of the rounds; None when the server's CPU is not known). Steadier than the rate:
        the machine's load changes how long a run takes more than what it costs."""
        costs = [
            (run.relay_microseconds_per_event, run.server_microseconds_per_event)
            for run in self.runs[mode][relays]
        ]
        if any(server is None for _, server in costs):
            return None
        return statistics.median(relay + server for relay, server in costs)

    def cpu_over_unordered(self, mode: str, relays: int) -> float | None:
        """``mode``'s CPU an event over the unordered claim's (None: not known)."""
        cost, unordered = (
            self.cpu_per_event(mode, relays),
            self.cpu_per_event(ORDERING_MODES[0][0], relays),
        )
        return None if cost is None or not unordered else cost / unordered

    @property
    def delivered_once(self) -> bool:
        return all(
            run.delivered_once
            for by_relays in self.runs.values()
            for runs in by_relays.values()
            for run in runs
        )


def measure_ordering(stack, database: str, events: int, rounds: int = 3) -> OrderingCost:
    """Each of :data:`ORDERING_MODES` with one relay and with two, on fresh backlogs of
    ``events`` events in ``database`` (migrated to revision 0008 at least), the modes in
    turn within each round (the machine's load drifts)."""
    server_pid = stack.db.process.pid if stack.db.process is not None else None
    app = connect(stack.app_settings(database))
    runs = {name: {1: [], 2: []} for name, _, _ in ORDERING_MODES}
    try:
        for _ in range(rounds):
            for relays in (1, 2):
                for name, keys, ordered in ORDERING_MODES:
                    runs[name][relays].append(
                        measure_run(
                            app,
                            stack.relay_settings(database),
                            relays,
                            events,
                            server_pid,
                            keys=keys,
                            ordered=ordered,
                        )
                    )
    finally:
        app.close()
    return OrderingCost(events, runs)


def measure(stack, database: str, events: int, rounds: int = 3) -> RelayThroughput:
    """One relay, then two, on fresh backlogs of ``events`` events in database
    ``database`` of ``stack`` (migrated: its ``orders`` have their outbox trigger), in
    ``rounds`` turns. Nothing else should deliver meanwhile (the stack's runtime stopped:
    the doorbells the backlog rings wait unanswered, and its relay serves another
    database anyway)."""
    server_pid = stack.db.process.pid if stack.db.process is not None else None
    app = connect(stack.app_settings(database))
    one, two = [], []
    try:
        for _ in range(rounds):
            one.append(measure_run(app, stack.relay_settings(database), 1, events, server_pid))
            two.append(measure_run(app, stack.relay_settings(database), 2, events, server_pid))
    finally:
        app.close()
    return RelayThroughput(events, one, two)
