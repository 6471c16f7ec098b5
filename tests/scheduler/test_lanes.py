"""The lanes (`scheduler.lanes`) with a stand-in for the sending: a lane goes on to its next
claim while the previous one's outcome is being recorded, and is idle only once every outcome
is recorded and counted; a channel's claims start in order, at most ``per_channel`` in flight,
none while an error answer is being recorded. The connector pool (`scheduler.pool`) gives each
call an instance of its own."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from connectors.base import ConnectorError, OutgoingPost, Published, RateLimitedError
from scheduler.dispatch import Claim, PassStats
from scheduler.lanes import Lanes, Turn
from scheduler.pool import ConnectorPool

GENEROUS = 20.0


def _claim(delivery_id: int, channel: str = "de-mastodon") -> Claim:
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return Claim(
        delivery_id=delivery_id,
        channel=channel,
        platform="mastodon",
        slot=now,
        attempt=1,
        due_at=now,
        claimed_at=now,
        post=OutgoingPost(text=f"Beitrag {delivery_id}", idempotency_key=f"k-{delivery_id}"),
        label=f"p{delivery_id}",
    )


def test_a_lane_sends_its_next_claim_before_the_last_outcome_is_recorded() -> None:
    recordings: dict[int, Future[PassStats]] = {}
    served: list[int] = []
    second_served = threading.Event()
    done: list[str] = []

    def serve(claim: Claim, turn: Turn) -> Future[PassStats]:
        served.append(claim.delivery_id)
        recordings[claim.delivery_id] = Future()
        if len(served) == 2:
            second_served.set()
        return recordings[claim.delivery_id]

    with ThreadPoolExecutor(max_workers=2) as executor:
        lanes = Lanes(executor, serve, on_done=done.append)
        lanes.submit([_claim(1), _claim(2)])
        # The second claim is served while the first one's outcome is still being recorded.
        assert second_served.wait(GENEROUS)
        assert served == [1, 2]
        assert lanes.held() == {1, 2}
        assert not lanes.wait_idle(0.05)

        recordings[1].set_result(PassStats(published=1, busy=[0.02]))
        assert lanes.held() == {2}
        assert done == ["de-mastodon"]
        assert not lanes.wait_idle(0.05)  # its last outcome is not recorded yet

        recordings[2].set_result(PassStats(published=1, busy=[0.02]))
        assert lanes.wait_idle(GENEROUS)
        assert lanes.held() == frozenset()
        assert lanes.take_stats().published == 2
        assert lanes.busy_seconds("de-mastodon") == 0.02
        assert done == ["de-mastodon", "de-mastodon"]


class Sends:
    """A stand-in for `send_claim` whose every step waits for the test: ``ready[i]`` lets claim
    i call (`Turn.calling`), ``answers[i]`` is its answer, ``recordings[i]`` its recording."""

    def __init__(self, ids: list[int]) -> None:
        self.served = {i: threading.Event() for i in ids}
        self.ready = {i: threading.Event() for i in ids}
        self.called = {i: threading.Event() for i in ids}
        self.answer_given = {i: threading.Event() for i in ids}
        self.answered = {i: threading.Event() for i in ids}
        self.answers: dict[int, Published | ConnectorError] = {}
        self.recordings = {i: Future[PassStats]() for i in ids}
        self.calls: list[int] = []

    def serve(self, claim: Claim, turn: Turn) -> Future[PassStats]:
        i = claim.delivery_id
        self.served[i].set()
        assert self.ready[i].wait(GENEROUS)
        self.calls.append(i)  # before `calling` lets the next claim of the lane go
        turn.calling()
        self.called[i].set()
        assert self.answer_given[i].wait(GENEROUS)
        turn.answered(self.answers[i])
        self.answered[i].set()
        return self.recordings[i]

    def answer(self, i: int, result: Published | ConnectorError | None = None) -> None:
        self.answers[i] = result or Published(f"r{i}", None, datetime(2027, 3, 1, tzinfo=UTC))
        self.answer_given[i].set()

    def record(self, i: int) -> None:
        self.recordings[i].set_result(PassStats(published=1, busy=[0.02]))


def test_a_channels_claims_start_in_order_at_most_per_channel_in_flight() -> None:
    sends = Sends([1, 2, 3, 4])
    with ThreadPoolExecutor(max_workers=4) as executor:
        lanes = Lanes(executor, sends.serve, per_channel=2)
        lanes.submit([_claim(1), _claim(2), _claim(3), _claim(4)])
        assert sends.served[1].wait(GENEROUS)
        sends.ready[2].set()  # the second is ready first, yet waits for the first to start
        assert not sends.served[2].wait(0.05)
        sends.ready[1].set()
        assert sends.called[2].wait(GENEROUS)
        assert sends.calls == [1, 2]
        # Two calls in flight, unanswered: the third waits.
        sends.ready[3].set()
        assert not sends.served[3].wait(0.05)
        assert lanes.queued("de-mastodon") == 4
        sends.answer(2)  # an answer (not its recording) frees a place
        assert sends.called[3].wait(GENEROUS)
        assert not sends.served[4].wait(0.05)
        sends.ready[4].set()
        sends.answer(1)
        assert sends.called[4].wait(GENEROUS)
        assert sends.calls == [1, 2, 3, 4]
        sends.answer(3)
        sends.answer(4)
        for i in (2, 1, 4):
            sends.record(i)
        assert not lanes.wait_idle(0.05)  # 3's outcome is not recorded yet
        sends.record(3)
        assert lanes.wait_idle(GENEROUS)
        assert lanes.take_stats().published == 4


def test_no_call_on_a_channel_starts_while_an_error_answer_is_being_recorded() -> None:
    sends = Sends([1, 2, 3])
    with ThreadPoolExecutor(max_workers=3) as executor:
        lanes = Lanes(executor, sends.serve, per_channel=3)
        lanes.submit([_claim(1), _claim(2), _claim(3)])
        sends.ready[1].set()
        assert sends.served[2].wait(GENEROUS)  # the first is calling: the next may start
        sends.answer(1, RateLimitedError("slow down", retry_after=60))
        assert sends.answered[1].wait(GENEROUS)
        sends.ready[2].set()
        sends.ready[3].set()
        # Checked before the answer came, the second waits for its recording before calling.
        assert not sends.called[2].wait(0.05)
        assert not sends.served[3].is_set()
        sends.record(1)
        assert sends.called[2].wait(GENEROUS)
        assert sends.called[3].wait(GENEROUS)
        assert sends.calls == [1, 2, 3]
        for i in (2, 3):
            sends.answer(i)
            sends.record(i)
        assert lanes.wait_idle(GENEROUS)


def test_channels_do_not_wait_for_each_other() -> None:
    sends = Sends([1, 2])
    with ThreadPoolExecutor(max_workers=2) as executor:
        lanes = Lanes(executor, sends.serve, per_channel=1)
        lanes.submit([_claim(1, "de-mastodon"), _claim(2, "cn-weibo")])
        sends.ready[2].set()
        assert sends.called[2].wait(GENEROUS)  # while the other channel's first is not ready
        sends.ready[1].set()
        for i in (1, 2):
            sends.answer(i)
            sends.record(i)
        assert lanes.wait_idle(GENEROUS)


class _Instance:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_the_pool_gives_each_call_in_flight_an_instance_of_its_own() -> None:
    made: list[_Instance] = []

    def factory(channel: str) -> Any:
        made.append(_Instance())
        return made[-1]

    pool = ConnectorPool(factory, per_channel=2)
    got: list[Any] = []
    third = threading.Event()

    def lease_third() -> None:
        with pool.lease("de-mastodon") as connector:
            got.append(connector)
            third.set()

    with pool.lease("de-mastodon") as first, pool.lease("de-mastodon") as second:
        assert first is not second
        waiter = threading.Thread(target=lease_third)
        waiter.start()
        assert not third.wait(0.05)  # both in use, two made: it waits
        with pool.lease("cn-weibo") as other:  # another channel's are its own
            assert other not in (first, second)
    assert third.wait(GENEROUS)
    waiter.join()
    assert got[0] in (first, second)
    assert len(made) == 3 and pool.instances("de-mastodon") == 2
    with pool.lease("de-mastodon") as again:  # the one used last (its session warm)
        assert again is got[0]
    pool.close()
    assert all(instance.closed for instance in made)


def test_a_claim_waits_for_the_one_before_it_to_start_even_with_room_in_flight() -> None:
    sends = Sends([1, 2, 3])
    with ThreadPoolExecutor(max_workers=3) as executor:
        lanes = Lanes(executor, sends.serve, per_channel=3)
        lanes.submit([_claim(1), _claim(2), _claim(3)])
        sends.ready[1].set()
        assert sends.served[2].wait(GENEROUS)
        sends.answer(1)
        assert sends.answered[1].wait(GENEROUS)
        sends.ready[3].set()
        # Room for two more calls, and the third is ready: it still waits for the second.
        assert not sends.served[3].wait(0.05)
        sends.ready[2].set()
        assert sends.called[3].wait(GENEROUS)
        assert sends.calls == [1, 2, 3]
        for i in (1, 2, 3):
            if i != 1:
                sends.answer(i)
            sends.record(i)
        assert lanes.wait_idle(GENEROUS)


def test_a_claim_is_told_to_check_again_when_an_error_answer_came_after_it_started() -> None:
    told: dict[int, bool] = {}
    sends = Sends([1, 2, 3])
    serve = sends.serve

    def telling(claim: Claim, turn: Turn) -> Future[PassStats]:
        calling = turn.calling

        def told_calling() -> bool:
            told[claim.delivery_id] = calling()
            return told[claim.delivery_id]

        turn.calling = told_calling  # type: ignore[method-assign]
        return serve(claim, turn)

    with ThreadPoolExecutor(max_workers=3) as executor:
        lanes = Lanes(executor, telling, per_channel=3)
        lanes.submit([_claim(1), _claim(2), _claim(3)])
        sends.ready[1].set()
        assert sends.served[2].wait(GENEROUS)  # the second started (checked) before ...
        sends.answer(1, RateLimitedError("slow down", retry_after=60))  # ... this answer
        assert sends.answered[1].wait(GENEROUS)
        sends.ready[2].set()
        sends.record(1)
        assert sends.called[2].wait(GENEROUS)
        sends.ready[3].set()  # the third started after the answer was recorded
        assert sends.called[3].wait(GENEROUS)
        assert told == {1: False, 2: True, 3: False}
        for i in (2, 3):
            sends.answer(i)
            sends.record(i)
        assert lanes.wait_idle(GENEROUS)
