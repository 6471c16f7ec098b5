"""A claim nobody will finish is taken over in seconds, and a claim that was taken over is never
sent: the check before each send, heartbeats, the takeover of a dead daemon's claims, and a
restart under the same name. Real databases (SQLite and PostgreSQL), emulators and the real
client libraries; a fake clock."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from campaigns.schema import Worker
from scheduler.dispatch import claim_due
from scheduler.workers import beat
from tests.conftest import wait_for
from tests.scheduler.conftest import (
    at,
    mastodon_channel,
    post_yaml,
    send_now,
    telegram_channel,
    x_channel,
)

HEARTBEAT = 30.0


def _claim(rig: Any, daemon: Any) -> list[Any]:
    return claim_due(
        rig.sessions, daemon.settings, rig.clock(), rate_for=lambda *_: 600.0, lookahead=5
    )


def _posts_sent(emulator: Any, path: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and r.path == path)


def test_a_claim_taken_over_while_it_waited_is_not_sent(rig_factory: Any, xemu: Any) -> None:
    rig = rig_factory({"de-x": x_channel(xemu)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Kasachstan: Tor nach Eurasien")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    slow = rig.daemon("slow-daemon")
    (claim,) = _claim(rig, slow)  # its lane is stuck behind slow calls...
    rig.clock.advance(minutes=6)  # ...past its lease: another daemon reconciles and sends it
    rig.daemon("fast-daemon").run_once(collect=False)
    assert rig.delivery().state == "published"

    stats = send_now(rig, slow, claim)  # the slow lane reaches the claim at last

    assert stats.stale == 1
    assert _posts_sent(xemu, "/2/tweets") == 1  # the stale claim sent nothing
    assert len(xemu.posts) == 1


def test_a_waiting_claim_keeps_its_lease_while_its_daemon_beats(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Wartet")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    slow = rig.daemon("slow-daemon")
    slow.register()
    (claim,) = _claim(rig, slow)
    other = rig.daemon("other-daemon")
    for _ in range(20):  # ten minutes, twice the lease, with the slow daemon alive
        rig.clock.advance(seconds=HEARTBEAT)
        slow.writer.run(
            lambda session: beat(
                session,
                "slow-daemon",
                rig.clock(),
                heartbeat_seconds=HEARTBEAT,
                lease_seconds=slow.settings.lease_seconds,
                held=[claim.delivery_id],
            )
        )
        other.run_once(collect=False)
    assert rig.delivery().state == "publishing"
    assert rig.delivery().lease_owner == "slow-daemon"

    assert send_now(rig, slow, claim).published == 1
    assert len(mastodon.posts) == 1


def test_a_dead_daemons_unsent_claims_are_sent_by_another_after_three_heartbeats(
    rig_factory: Any, telegram: Any
) -> None:
    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Nachricht {i}") for i in range(3)])
    rig.clock.set(at("2027-03-01T09:00:00"))
    dead = rig.daemon("dead-daemon", heartbeat_seconds=HEARTBEAT)
    dead.register()
    assert len(_claim(rig, dead)) == 3  # ... and the process is killed before sending any
    other = rig.daemon("other-daemon")

    rig.clock.advance(seconds=2 * HEARTBEAT)
    other.run_once(collect=False)
    assert rig.states() == ["publishing"] * 3  # two missed heartbeats: maybe just slow

    rig.clock.advance(seconds=HEARTBEAT + 1)  # three: dead (its lease has 4 minutes to go)
    assert other.run_once(collect=False)[0].handed_back == 3
    rig.run_until(rig.clock() + timedelta(seconds=5))  # the channel's rate: one a second

    assert rig.states() == ["published"] * 3
    # Never sent, so never asked about: Telegram cannot tell, but nothing went to review.
    assert len(telegram.posts) == 3
    reasons = [reason for _, _, reason in rig.audit(1)]
    assert any("dead-daemon died" in (r or "") and "before sending" in (r or "") for r in reasons)
    with rig.sessions() as session:
        assert session.get(Worker, "dead-daemon").stopped_at is not None


def test_a_dead_daemons_call_in_flight_is_reconciled_not_sent_again(
    rig_factory: Any, mastodon: Any
) -> None:
    from scheduler.dispatch import begin_send

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Unterwegs")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    dead = rig.daemon("dead-daemon", heartbeat_seconds=HEARTBEAT)
    dead.register()
    (claim,) = _claim(rig, dead)
    assert begin_send(rig.sessions, claim, dead.settings, rig.clock())
    with dead.pool.lease(claim.channel) as connector:
        connector.publish(claim.post)  # stored; the process dies before recording it
    other = rig.daemon("other-daemon")

    rig.clock.advance(seconds=3 * HEARTBEAT + 1)
    other.run_once(collect=False)
    # Dead, but its last call started only 91 s ago: the platform gets reconcile_after (2 min)
    # to show the post before anyone asks.
    assert rig.delivery().state == "publishing"
    rig.clock.advance(seconds=30)
    stats = other.run_once(collect=False)[0]

    assert stats.reconciled == 1
    assert rig.delivery().state == "published"
    assert rig.delivery().remote_id == mastodon.posts[0]["id"]
    assert len(mastodon.posts) == 1


def test_a_daemon_restarted_under_its_name_takes_over_its_claims_at_once(
    rig_factory: Any, telegram: Any
) -> None:
    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Neustart")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    first = rig.daemon("run-1", name="berlin")
    first.register()
    assert first.name == "berlin"
    assert rig.daemon("elsewhere", name="berlin").register() == []
    assert rig._daemons[-1].name == "berlin#2"  # the name is taken: a second daemon of it
    assert len(_claim(rig, first)) == 1
    first._name_lock.release()  # killed: the operating system drops its lock

    restarted = rig.daemon("run-2", name="berlin")
    assert restarted.register() == ["run-1"]
    rig.clock.advance(seconds=1)  # the channel's next slot; nowhere near three heartbeats
    stats = restarted.run_once(collect=False)[0]

    assert stats.handed_back == 1 and stats.published == 1
    assert len(telegram.posts) == 1
    assert any("run-1 died" in (r or "") for _, _, r in rig.audit(1))


def test_a_daemon_whose_name_lock_is_free_is_dead_at_the_next_heartbeat_of_another(
    rig_factory: Any, telegram: Any
) -> None:
    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Meldung {i}") for i in range(3)])
    rig.clock.set(at("2027-03-01T09:00:00"))
    victim = rig.daemon("run-1", name="berlin", heartbeat_seconds=HEARTBEAT)
    victim.register()
    assert len(_claim(rig, victim)) == 3
    other = rig.daemon("other-run", name="bonn", heartbeat_seconds=HEARTBEAT)
    other.register()
    other.heartbeat()
    with rig.sessions() as session:
        assert session.get(Worker, "run-1").stopped_at is None  # its lock is held: alive

    victim._name_lock.release()  # SIGKILL: the operating system (or the server) drops it
    rig.clock.advance(seconds=1)  # nowhere near three heartbeats, nor the lease
    other.heartbeat()

    with rig.sessions() as session:
        worker = session.get(Worker, "run-1")
        assert worker.stopped_at is not None
        assert "the lock of its name 'berlin' is free" in (worker.stop_reason or "")
        assert session.get(Worker, "other-run").stopped_at is None
    assert other.run_once(collect=False)[0].handed_back == 3
    rig.run_until(rig.clock() + timedelta(seconds=5))
    assert rig.states() == ["published"] * 3
    assert len(telegram.posts) == 3


def test_a_claim_of_a_paused_channel_is_handed_back_at_its_turn(
    rig_factory: Any, mastodon: Any
) -> None:
    from scheduler.dispatch import pause_channel

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Pausiert")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.daemon("daemon")
    (claim,) = _claim(rig, daemon)
    pause_channel(rig.sessions, "de-mastodon", "by hand", rig.clock(), daemon.settings)

    stats = send_now(rig, daemon, claim)

    assert stats.handed_back == 1
    assert mastodon.requests == [] or all(r.method != "POST" for r in mastodon.requests)
    assert rig.delivery().state == "approved"


def test_recovery_leaves_alone_what_this_daemon_is_still_sending(
    rig_factory: Any, mastodon: Any
) -> None:
    from scheduler.recovery import take_over

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Meins")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.daemon("daemon")
    (claim,) = _claim(rig, daemon)
    later = rig.clock() + timedelta(minutes=10)
    held = frozenset({claim.delivery_id})

    taken = take_over(rig.sessions, daemon.settings, later, held=held)

    assert taken.handed_back == 0 and taken.to_reconcile == []
    assert rig.delivery().state == "publishing"


def test_a_claim_pass_that_finds_its_channels_being_claimed_elsewhere_says_so(
    rig_factory: Any, telegram: Any
) -> None:
    """PostgreSQL: another daemon's claim holds the channel row (SKIP LOCKED passes it by), so
    nothing is claimed, and the daemon is told to look again soon, not at its next poll."""
    from sqlalchemy import text

    from scheduler.dispatch import claim_in
    from scheduler.writer import Direct

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Gleich")])
    rig.clock.set(at("2027-03-01T09:00:00"))  # its time (Berlin)
    daemon = rig.daemon("second-daemon")

    def claim() -> Any:
        return Direct(rig.sessions).run(
            lambda session: claim_in(
                session, daemon.settings, rig.clock(), rate_for=lambda *_: 600.0
            )
        )

    with rig.sessions() as other:
        if other.get_bind().dialect.name == "postgresql":
            other.execute(text("SELECT id FROM channel FOR UPDATE")).all()
            busy = claim()
            assert busy.claims == [] and busy.contended
        other.rollback()
    claimed = claim()
    assert len(claimed.claims) == 1 and not claimed.contended


def test_a_daemon_takes_its_name_lock_again_when_its_connection_was_lost(
    rig_factory: Any, telegram: Any
) -> None:
    """PostgreSQL keeps the lock in a database session: after a server restart or a dropped
    connection the daemon must hold it again at its next heartbeat, or the others would take
    it for dead at each of theirs."""
    from scheduler.workers import name_lock_free

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    daemon = rig.daemon("run-1", name="astana", heartbeat_seconds=HEARTBEAT)
    daemon.register()
    lock = daemon._name_lock
    if lock._held is not None and rig.sessions().get_bind().dialect.name == "postgresql":
        lock._held.close()  # the server ended the session (its process exits a moment later)
        with rig.sessions() as session:
            assert wait_for(lambda: name_lock_free(session, "astana"))
    daemon.heartbeat()
    with rig.sessions() as session:
        assert name_lock_free(session, "astana") is False
        assert session.get(Worker, "run-1").stopped_at is None


# PostgreSQL only: on SQLite the name lock is a file lock, which lasts as long as the process.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_daemon_takes_its_name_lock_again_when_the_server_ended_its_session(
    rig_factory: Any, telegram: Any
) -> None:
    """The heartbeat asks the lock's session nothing while the server sent nothing on it; when
    the server ends that session (here pg_terminate_backend, as at a restart) it says so on the
    socket, and the next heartbeat takes the lock again."""
    from sqlalchemy import text

    from scheduler.workers import name_lock_free

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    daemon = rig.daemon("run-1", name="astana", heartbeat_seconds=HEARTBEAT)
    daemon.register()
    lock = daemon._name_lock
    assert lock._held is not None
    pid = lock._held.connection.dbapi_connection.info.backend_pid
    with rig.sessions() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        session.commit()
    with rig.sessions() as session:
        assert wait_for(lambda: name_lock_free(session, "astana"))
    daemon.heartbeat()
    with rig.sessions() as session:
        assert name_lock_free(session, "astana") is False
        assert session.get(Worker, "run-1").stopped_at is None


# PostgreSQL only: on SQLite closing the lock file lets the lock go at once.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_released_name_is_free_before_its_session_closes(rig_factory: Any, telegram: Any) -> None:
    """Closing the lock's connection ends the server's session (and its lock) a moment later,
    in the server's own process: a daemon restarted at once under the name could find it taken
    and take "astana#2". A release unlocks first, so the name is free when it returns."""
    from scheduler.workers import name_lock_free

    rig = rig_factory({"de-telegram": telegram_channel(telegram)})
    daemon = rig.daemon("run-1", name="astana", heartbeat_seconds=HEARTBEAT)
    daemon.register()
    held = daemon._name_lock._held
    free_at_close: list[bool | None] = []
    close = held.close

    def closing() -> None:
        with rig.sessions() as session:
            free_at_close.append(name_lock_free(session, "astana"))
        close()

    held.close = closing
    daemon.release_name()
    assert free_at_close == [True]
    again = rig.daemon("run-2", name="astana", heartbeat_seconds=HEARTBEAT)
    again.register()
    assert again.name == "astana"


def _claimed(
    rig_factory: Any, mastodon: Any, count: int, worker: str
) -> tuple[Any, Any, list[Any]]:
    """``count`` posts due at once on one Mastodon channel, claimed by the daemon ``worker``."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Nachricht {i}") for i in range(count)])
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.daemon(worker)
    claims = _claim(rig, daemon)
    assert len(claims) == count
    return rig, daemon, claims


def test_one_batch_of_checks_and_answers_tells_each_claim_apart(
    rig_factory: Any, mastodon: Any, db_url: str
) -> None:
    """The writer's batch (`settle`): answers and checks of several claims in one transaction.
    Each good claim is marked as being sent; a stale one is left alone, a refused one handed
    back, an answer whose claim moved on is still recorded. On PostgreSQL the good ones are
    written without reading their rows first (one guarded UPDATE ... RETURNING each)."""
    from sqlalchemy import event, update

    from campaigns.schema import Delivery, Post
    from scheduler.dispatch import Outcome, SendCheck, Verdict, begin_send, settle
    from scheduler.writer import Direct

    rig, daemon, claims = _claimed(rig_factory, mastodon, 5, "batch-daemon")
    answers = []
    for claim in claims[:2]:  # sent: their checks committed, their answers come back
        assert begin_send(rig.sessions, claim, daemon.settings, rig.clock())
        with daemon.pool.lease(claim.channel) as connector:
            answers.append(connector.publish(claim.post))
    rig.clock.advance(seconds=1)

    def outcome(i: int) -> Outcome:
        return Outcome(claims[i], answers[i], daemon.settings, rig.clock(), random.Random(1))

    def check(i: int) -> SendCheck:
        return SendCheck(claims[i], daemon.settings, rig.clock())

    statements: list[str] = []
    engine = rig.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    good = Direct(rig.sessions).run(lambda s: settle(s, [outcome(0), check(4)]))
    assert good[0].published == 1 and good[1] is Verdict.SEND
    if db_url.startswith("postgresql"):
        assert not [s for s in statements if s.lstrip().upper().startswith("SELECT delivery")]
        assert not [s for s in statements if "FOR UPDATE" in s], statements

    with rig.sessions() as session:  # claim 2 taken over; claim 3's approval out of date
        session.execute(
            update(Delivery).where(Delivery.id == claims[2].delivery_id).values(attempts=9)
        )
        refused = session.get(Delivery, claims[3].delivery_id)
        session.execute(
            update(Post).where(Post.id == refused.post_id).values(approved_revision=None)
        )
        session.execute(  # claim 1's row moved on before its answer came
            update(Delivery)
            .where(Delivery.id == claims[1].delivery_id)
            .values(state="scheduled", lease_owner=None)
        )
        session.commit()
    bad = Direct(rig.sessions).run(lambda s: settle(s, [outcome(1), check(2), check(3)]))
    assert bad[0].published == 1
    assert bad[1:] == [Verdict.STALE, Verdict.REFUSED]

    rows = {row.id: row for row in rig.deliveries()}
    assert [rows[c.delivery_id].state for c in claims] == [
        "published",
        "published",
        "publishing",
        "approved",
        "publishing",
    ]
    sending = rows[claims[4].delivery_id]
    assert sending.sending_at == rig.clock()
    assert sending.lease_expires_at == sending.sending_at + timedelta(
        seconds=daemon.settings.lease_seconds
    )
    assert rows[claims[2].delivery_id].sending_at is None  # stale: not marked
    assert "approval" in rig.audit(claims[3].delivery_id)[-1][2]


def test_claims_handed_back_together_leave_a_taken_over_or_sent_one_alone(
    rig_factory: Any, mastodon: Any
) -> None:
    """`hand_back_in` over several rows at once (on PostgreSQL one guarded UPDATE ... FROM
    unnest ... RETURNING): only the rows still this worker's and not being sent move."""
    from sqlalchemy import update

    from campaigns.schema import Delivery
    from scheduler.dispatch import begin_send, hand_back_claims
    from scheduler.writer import Direct

    rig, daemon, claims = _claimed(rig_factory, mastodon, 4, "stopping-daemon")
    assert begin_send(rig.sessions, claims[1], daemon.settings, rig.clock())  # being sent
    with rig.sessions() as session:  # taken over by another daemon
        session.execute(
            update(Delivery)
            .where(Delivery.id == claims[2].delivery_id)
            .values(lease_owner="other-daemon")
        )
        session.commit()

    handed = hand_back_claims(
        Direct(rig.sessions), claims, daemon.settings, rig.clock(), reason="stopping"
    )

    assert handed == 2
    rows = {row.id: row for row in rig.deliveries()}
    assert [rows[c.delivery_id].state for c in claims] == [
        "approved",
        "publishing",
        "publishing",
        "approved",
    ]
    assert rows[claims[0].delivery_id].attempts == 0
    assert rows[claims[0].delivery_id].lease_owner is None
    assert rows[claims[2].delivery_id].lease_owner == "other-daemon"
    assert "handed back: stopping" in rig.audit(claims[3].delivery_id)[-1][2]
    for left in claims[1:3]:
        assert not any("handed back" in (r or "") for _, _, r in rig.audit(left.delivery_id))
