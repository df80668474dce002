"""One checkpoint, in one order, for every processor (as quix-streams' Checkpoint.commit()):

1. marker tables flushed: what a replay must know before the outputs below can exist (the
   contact-summary processor's `contact-deltas-sent`);
2. the outputs that must precede the state delivered (`Context.out`: whatever the state will say
   was done, such as the statistics a closed window sent, the deltas a contact's new state
   accounts for): a crash after them replays the inputs onto the older state and sends them
   again, under the same identifiers;
3. the state tables' changelog records sent and acknowledged, all tables together;
4. the outputs that may follow the state delivered (`Context.after_state`: those a replay makes
   again from the state, such as a contact's summary);
5. the input offsets acknowledged, so a commit never passes an input whose effects are not
   durable.

A step that fails raises, and nothing after it happens: the worker stops, and its successor
starts from the last acknowledged inputs and the changelogs as written. Processors declare what
they have (a marker table, outputs on `out` or `after_state`); none writes this order itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from streams.engine.outbox import Outbox
from streams.engine.tables import BufferedTable, flush_all

STEPS = ("markers", "before_delivery", "outputs", "state", "after_state", "acknowledge")


async def _nothing() -> None:
    return None


@dataclass
class Checkpoint:
    markers: Sequence[BufferedTable]
    out: Outbox
    tables: Sequence[BufferedTable]
    after_state: Outbox
    # Runs right before step 2, for work that must see the outputs go (heartbeats behind facts).
    before_delivery: Callable[[], Awaitable[None]] = _nothing
    # Step 5: in a worker the batch channel acknowledges when the processor's turn returns
    # (channel.py), so the engine passes nothing here; the test context records it.
    acknowledge: Callable[[], None] = lambda: None
    steps_done: list[str] = field(default_factory=list)

    async def commit(self) -> None:
        await flush_all(*self.markers)
        self.steps_done.append("markers")
        await self.before_delivery()
        self.steps_done.append("before_delivery")
        await self.out.delivered()
        self.steps_done.append("outputs")
        await flush_all(*self.tables)
        self.steps_done.append("state")
        await self.after_state.delivered()
        self.steps_done.append("after_state")
        self.acknowledge()
        self.steps_done.append("acknowledge")
