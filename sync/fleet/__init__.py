"""A fleet: many sync configurations run as jobs by procrastinate workers over PostgreSQL.

spec.py      fleet.toml's keys (pydantic)
settings.py  fleet.toml -> validated Fleet (every configuration checked at once)
queue.py     the queue database: our schedule and budget tables, beside procrastinate's
budget.py    request budgets per credential, a token bucket in PostgreSQL, as http limiters
runner.py    one configuration's run on a worker: its store, its lease, the engine, the outcome
app.py       procrastinate's App and tasks (sync, tick, retry of stalled jobs): its only importer
worker.py    `contactsync worker`: the procrastinate workers, signals, /healthz and /metrics
observe.py   the worker's health and its metrics, labelled by configuration
status.py    `contactsync fleet status`
cli.py       the commands, registered into sync/cli.py's parser

Nothing here is imported by a plain `contactsync once`: sync/cli.py imports cli.py, which
imports the rest only inside the commands.
"""
