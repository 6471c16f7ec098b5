"""The lanes (`scheduler.lanes`) with a stand-in for the sending: a lane goes on to its next
claim while the previous one's outcome is being recorded, and is idle only once every outcome
is recorded and counted."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from connectors.base import OutgoingPost
from scheduler.dispatch import Claim, PassStats
from scheduler.lanes import Lanes

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

    def serve(claim: Claim) -> Future[PassStats]:
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
