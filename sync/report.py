"""What a run did, per system, and how it is shown: terminal table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sync.masking import mask
from sync.states import RunStatus

if TYPE_CHECKING:
    from sync.decision import Decision


@dataclass
class SystemReport:
    listing: str = "-"
    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    conflicts: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    # False when the system could not be listed completely (outage, credentials, cut page)
    listed: bool = True
    # the system failed as a whole (credentials, outage, daily quota): said once, here, and
    # not as a failed record per action; `not_sent` counts the actions it kept back
    failure: str | None = None
    not_sent: int = 0
    # creates kept back until a complete listing shows the system lacks the contact
    deferred: int = 0

    def fail(self, reason: str, vendor_id: str | None = None, email: str | None = None) -> None:
        self.failed.append({"vendor_id": vendor_id, "email": email, "reason": mask(reason)})


@dataclass
class RunReport:
    run_id: int | None = None
    dry_run: bool = False
    status: str = RunStatus.RUNNING
    systems: dict[str, SystemReport] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)
    open_conflicts: int = 0
    notes: list[str] = field(default_factory=list)

    def system(self, name: str) -> SystemReport:
        return self.systems.setdefault(name, SystemReport())

    @property
    def unlisted(self) -> list[str]:
        """Systems that could not be listed completely in this run."""
        return [name for name, r in self.systems.items() if not r.listed]

    @property
    def writes(self) -> int:
        return sum(r.created + r.updated + r.deleted for r in self.systems.values())

    @property
    def exit_code(self) -> int:
        troubled = any(r.failed or r.held or r.failure for r in self.systems.values())
        return 1 if troubled else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def take(self, decision: Decision) -> None:
        """What the run's decision has to say: failed records, held deletions, conflicts,
        creates kept back, notes."""
        for f in decision.failures:
            self.system(f.system).fail(f.reason, f.vendor_id, f.email)
        for system, why in decision.held_why.items():
            count = sum(1 for h in decision.held if h.system == system)
            self.system(system).held.append(f"{why} (run with --allow-mass-delete to apply them)")
            self.notes.append(f"{system}: {count} deletion(s) held")
        for system, n in decision.conflicts.items():
            self.system(system).conflicts += n
        for system, n in decision.deferred.items():
            self.system(system).deferred += n
            self.notes.append(
                f"{system}: {n} create(s) wait for a complete listing of {system} "
                "(it may hold them already)"
            )
        self.notes += decision.notes


def clip(value: object, limit: int) -> str:
    """Text as a terminal line shows it: a value of a megabyte is cut, saying how long it was."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def print_run(report: RunReport, console: Console | None = None) -> None:
    console = console or Console()
    title = f"run {report.run_id}" + (" (dry run: nothing sent)" if report.dry_run else "")
    table = Table(title=title)
    done = (
        ("would create", "would update", "would delete")
        if report.dry_run
        else (
            "created",
            "updated",
            "deleted",
        )
    )
    for col in ("system", "listing", "read", *done, "conflicts", "failed"):
        table.add_column(col, justify="left" if col in ("system", "listing") else "right")
    planned = _planned(report) if report.dry_run else {}
    for name, r in report.systems.items():
        counts = (r.created, r.updated, r.deleted)
        if report.dry_run:
            counts = tuple(planned.get((name, k), 0) for k in ("create", "update", "delete"))  # type: ignore[assignment]
        table.add_row(
            name,
            r.listing,
            str(r.read),
            *(str(n) for n in counts),
            str(r.conflicts),
            str(len(r.failed)),
        )
    console.print(table)
    if report.dry_run and planned:
        summary = "; ".join(
            f"{system}: {n} {kind}" for (system, kind), n in sorted(planned.items())
        )
        console.print(f"would send {sum(planned.values())} action(s): {summary}")
    for action in report.plan if report.dry_run else []:
        fields = ", ".join(sorted(action.get("fields", {})))
        console.print(f"  would {action['kind']} in {action['system']}: {action['email']} {fields}")
    for name, r in report.systems.items():
        if r.failure:
            kept = f"; {r.not_sent} write(s) kept for the next run" if r.not_sent else ""
            line = mask(f" {name}: {clip(r.failure, 2000)}{kept}")
            console.print(Text.assemble(("system failed", "red"), line))
        if r.deferred:
            console.print(
                f"[yellow]waiting[/yellow] {name}: {r.deferred} create(s) until a complete listing"
            )
        for failure in r.failed:
            who = failure.get("email") or failure.get("vendor_id") or "?"
            line = mask(f" {name}: {clip(who, 200)}: {clip(failure['reason'], 2000)}")
            # vendor text is shown as it is: never read as markup, never highlighted
            console.print(Text.assemble(("failed", "red"), line))
        for why in r.held:
            console.print(Text.assemble(("held", "yellow"), f" {name}: {clip(why, 2000)}"))
    for note in report.notes:
        console.print(note)
    if report.open_conflicts:
        console.print(f"{report.open_conflicts} open conflict(s): see `contactsync conflicts list`")


def _planned(report: RunReport) -> dict[tuple[str, str], int]:
    """A dry run's plan counted by (system, kind)."""
    out: dict[tuple[str, str], int] = {}
    for action in report.plan:
        key = (str(action["system"]), str(action["kind"]))
        out[key] = out.get(key, 0) + 1
    return out
