"""Group commit for connectors that write local files: the writes that arrive while one group
is being made durable wait and go together as the next group, so a thousand writes cost a few
flushes, not a thousand (the CSV file's rewrite, the vCard folder's sync)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

Op = TypeVar("Op")
Group = list[tuple[Op, "asyncio.Future[Any]"]]
# (the write's future, the error it ends with or None, its answer)
Answer = tuple["asyncio.Future[Any]", BaseException | None, Any]


class GroupCommit(Generic[Op]):
    def __init__(self, commit: Callable[[Group[Op]], Awaitable[None]]) -> None:
        """`commit(group)` applies a group's operations and settles their futures (`settle`);
        if it raises, every future it left unsettled gets that error."""
        self._commit = commit
        self._pending: Group[Op] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, op: Op) -> Any:
        """The answer `commit` gives `op`, once the group holding it is durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        return await future

    async def _commit_groups(self) -> None:
        while self._pending:
            # one turn of the loop: every write already on its way joins this group
            await asyncio.sleep(0)
            group, self._pending = self._pending, []
            try:
                await self._commit(group)
            except BaseException as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    for _, future in self._pending:
                        future.cancel()
                    self._pending = []
                    raise


def settle(answers: Iterable[Answer]) -> None:
    """Each future its error, or else its answer (a future its caller gave up on is left)."""
    for future, error, answer in answers:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(answer)
