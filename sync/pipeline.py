"""Deciding, journalling and pushing side by side: the first requests go out while later
contacts are still being decided.

The contacts are decided a slice at a time, with a turn of the event loop between slices so
that answers are taken in as they land. What the decided contacts add to the plan is
journalled (pending, committed) in parts, and each part goes to the pusher only once its
commit is done: every action is in the journal before its request leaves, as after a crash
recovery expects. The first part is small, so that pushing starts early; each next one is
twice as large, so that a run of n actions costs about log2(n) commits (and a file system,
whose writes are grouped, about as many rewrites).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from sync.decide import Round
from sync.decision import Marks
from sync.progress import Progress
from sync.push import Pusher
from sync.store.run import RunTx

SLICE = 32  # contacts decided between two turns of the event loop
FIRST_PART = 32  # actions in the first journal commit
LARGEST_PART = 4096
# actions journalled but not yet sent before deciding waits for the pusher: a run decides
# faster than it sends, and every decided action holds its bodies until it is sent
AHEAD = 8192


async def decide_and_push(
    round_: Round,
    ids: list[str],
    db: RunTx,
    run_id: int,
    pusher: Pusher,
    progress: Progress,
    journalled: Callable[[], None] = lambda: None,
) -> None:
    """Decide `ids` (after `round_.start`), journal the plan part by part and hand each part
    to `pusher`; `journalled` is called after each part's commit, before it is sent (the
    crash test seam). Returns once every contact is decided and journalled: `pusher.finish`
    waits for the answers."""
    d, marks, goal = round_.d, Marks(), FIRST_PART
    try:
        for start in range(0, max(len(ids), 1), SLICE):
            round_.contacts(ids[start : start + SLICE])
            last = start + SLICE >= len(ids)
            if last or len(d.actions) - marks.actions >= goal:
                part = d.part(marks)
                entries = db.journal(run_id, part)
                journalled()
                if part.actions:
                    progress.planned(Counter((a.system, str(a.kind)) for a in part.actions))
                    pusher.add(zip(entries, part.actions, strict=True))
                goal = min(goal * 2, LARGEST_PART)
                await pusher.room(AHEAD)
            await asyncio.sleep(0)  # answers that landed meanwhile are taken in
    except BaseException:
        await pusher.abort()
        raise
