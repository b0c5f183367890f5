"""Hot-path statements run on the driver connection itself, inside SQLAlchemy's transaction.

Through SQLAlchemy's asyncio API a statement costs about 90 µs of Python before the database
sees it (a greenlet per call, the execution context, the result object), for statements
SQLite answers in 10 µs. The spine runs a dozen per message, most of its CPU at 200 messages
a second. ``run`` keeps what SQLAlchemy does well, the SQL compiled for the dialect, the
expanding ``IN`` lists, the types' bind and result conversions, and skips the rest: the
statement is compiled once per dialect, and each call sends the finished SQL and parameters
to ``sqlite3`` or asyncpg directly (measured ~20 µs a statement on SQLite).

Only for Core statements built once (module constants) and run on an ``AsyncConnection``
that is in a transaction; the statement joins that transaction. Errors come out as
SQLAlchemy's ``DBAPIError`` family, as they would through ``conn.execute``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Float, Numeric, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement, Insert
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]
_IN_LIST = re.compile(r"(NOT )?IN \(__\[POSTCOMPILE_(\w+)\]\)")


class Rows:
    """What a statement returned: the rows (tuples, in the statement's column order) and the
    count of rows it changed, with the few accessors the hot path uses."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise exc.NoResultFound("expected one row") if not self.rows else \
                exc.MultipleResultsFound("expected one row")
        return self.rows[0][0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


class _Plan:
    """One statement compiled for one dialect."""

    __slots__ = ("compiled", "sql", "places", "binders", "readers", "expanding", "shapes",
                 "defaults", "arrays")

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 keys: tuple[str, ...] | None) -> None:
        # As for an executemany: without the RETURNING of the new row's key that SQLAlchemy
        # adds to a single-row INSERT on PostgreSQL (a RETURNING the statement names stays).
        compiled = statement.compile(dialect=dialect, column_keys=keys,
                                     for_executemany=isinstance(statement, Insert))
        assert isinstance(compiled, SQLCompiler)
        if not compiled.positional:
            raise TypeError("fast statements need a positional driver (sqlite3, asyncpg)")
        self.compiled = compiled
        # Python-side defaults of the columns an INSERT leaves out, and ``onupdate`` values of
        # those an UPDATE leaves out.
        self.defaults: list[tuple[str, Any]] = []
        for columns, which in ((compiled.insert_prefetch, "default"),
                               (compiled.update_prefetch, "onupdate")):
            for column in columns:
                default: Any = getattr(column, which)
                if not (default.is_scalar or default.is_callable):
                    raise TypeError("fast statements: only scalar or callable column defaults")
                self.defaults.append((column.key, default))
        # Expanding IN lists: the SQL depends on the lists' lengths; one shape per lengths.
        self.expanding = sorted(compiled.bind_names[bind]
                                for bind in (*compiled.literal_execute_params,
                                             *compiled.post_compile_params))
        self.shapes: dict[tuple[int, ...], tuple[str, list[tuple[str, int | None]]]] = {}
        self.sql = compiled.string
        # Where each positional parameter comes from: (name, None), or an item of a list.
        self.places: list[tuple[str, int | None]] = [
            (name, None) for name in compiled.positiontup or ()]
        self.arrays: frozenset[str] = frozenset()
        if self.expanding and dialect.name == "postgresql":
            self._as_arrays()
        self.binders: Mapping[str, Callable[[Any], Any]] = compiled._bind_processors  # type: ignore[assignment]
        readers = [_reader(column.type, dialect) for column in compiled._result_columns]
        self.readers = readers if any(readers) else None

    def args(self, params: Params | None) -> tuple[str, list[Any]]:
        """The SQL to send and its positional parameters, converted for the driver."""
        values = self.compiled.construct_params(params, _check=False)
        for key, default in self.defaults:
            values[key] = default.arg if default.is_scalar else default.arg(None)
        sql, places = self.sql, self.places
        if self.expanding:
            lengths = tuple(len(values[key]) for key in self.expanding)
            shape = self.shapes.get(lengths)
            if shape is None:
                shape = self.shapes[lengths] = self._shape(params)
            sql, places = shape
        binders, arrays = self.binders, self.arrays
        out = []
        for name, index in places:
            value = values[name] if index is None else values[name][index]
            binder = binders.get(name)
            if name in arrays:
                out.append(list(value) if binder is None else [binder(v) for v in value])
            else:
                out.append(value if binder is None else binder(value))
        return sql, out

    def _as_arrays(self) -> None:
        """On PostgreSQL, ``IN (list)`` becomes ``= ANY(array)``: one statement whatever the
        lengths, so the server and asyncpg prepare it once (a new statement text costs a
        round trip to prepare, and its place in a cache of 100)."""
        plain = [name for name, _ in self.places if name not in self.expanding]
        numbers: dict[str, int] = {}

        def array(match: re.Match[str]) -> str:
            name = match.group(2)
            if name not in numbers:
                numbers[name] = len(plain) + len(numbers) + 1
            return f"{'<> ALL' if match.group(1) else '= ANY'}(${numbers[name]})"

        sql = _IN_LIST.sub(array, self.sql)
        if "__[POSTCOMPILE_" in sql or set(numbers) != set(self.expanding):
            return  # another kind of late parameter: keep one statement per lengths
        self.sql = sql
        self.places = [(name, None)
                       for name in (*plain, *sorted(numbers, key=numbers.__getitem__))]
        self.arrays = frozenset(numbers)
        self.expanding = []

    def _shape(self, params: Params | None) -> tuple[str, list[tuple[str, int | None]]]:
        """The SQL for these lists' lengths, and where each parameter comes from: a plain
        parameter, or an item of a list (SQLAlchemy names it ``{list}_{n}``, from 1)."""
        state = self.compiled.construct_expanded_state(params)
        places: list[tuple[str, int | None]] = []
        for name in state.positiontup or ():
            if name in self.compiled.binds:
                places.append((name, None))
                continue
            base, _, number = name.rpartition("_")
            if base not in self.expanding or not number.isdigit():
                raise TypeError(f"fast statements: cannot place parameter {name!r}")
            places.append((base, int(number) - 1))
        return state.statement, places

    def read(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        readers = self.readers
        if readers is None:
            return [tuple(row) for row in rows]
        return [tuple(reader(value) if reader is not None else value
                      for reader, value in zip(readers, row, strict=True)) for row in rows]


def _reader(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The result conversion of a column's type. Numbers on asyncpg convert according to the
    column's type in the database, known only from a result: convert by the value instead."""
    if dialect.name == "postgresql" and isinstance(type_, (Float, Numeric)):
        if type_.asdecimal:
            return lambda value: Decimal(str(value)) if isinstance(value, float) else value
        return lambda value: float(value) if isinstance(value, Decimal) else value
    reader: Callable[[Any], Any] | None = type_._cached_result_processor(dialect, None)
    return reader


# Told the SQL of each statement run here, when set (bench/statements.py counts them).
on_statement: Callable[[str], None] | None = None

_plans: dict[tuple[int, str, tuple[str, ...] | None], tuple[ClauseElement, _Plan]] = {}


def _plan(statement: ClauseElement, dialect: Dialect, params: Any) -> _Plan:
    # An INSERT is compiled for the columns its parameters name, as SQLAlchemy does.
    keys = None
    if isinstance(statement, Insert) and params:
        first = params[0] if isinstance(params, Sequence) else params
        keys = tuple(first)
    key = (id(statement), dialect.name, keys)
    found = _plans.get(key)
    if found is None or found[0] is not statement:
        found = _plans[key] = (statement, _Plan(statement, dialect, keys))
    return found[1]


async def run(conn: AsyncConnection | AsyncSession, statement: ClauseElement,
              params: Params | Sequence[Params] | None = None) -> Rows:
    """Run ``statement`` (with one parameter set, or a list of them for an executemany) in
    the transaction of ``conn`` (or of the session's connection)."""
    if not isinstance(conn, AsyncConnection):  # a session, or a LazySession
        conn = await conn.connection()
    if not conn.in_transaction():
        raise RuntimeError("fast statements run inside a transaction")
    sync = conn.sync_connection
    assert sync is not None
    plan = _plan(statement, sync.dialect, params)
    many = isinstance(params, Sequence)
    if many:
        assert isinstance(params, Sequence)
        sent = [plan.args(one) for one in params]
    else:
        assert params is None or isinstance(params, Mapping)
        sent = [plan.args(params)]
    if len({sql for sql, _ in sent}) > 1:  # an executemany over lists of different lengths
        rows: list[Any] = []
        count = 0
        for sql, args in sent:
            done = await _send(sync, plan, sql, [args], False)
            rows += done.rows
            count += done.rowcount
        return Rows(rows, count)
    if not sent:
        return Rows([], 0)
    return await _send(sync, plan, sent[0][0], [args for _, args in sent], many)


async def _send(sync: Any, plan: _Plan, sql: str, args: list[list[Any]], many: bool) -> Rows:
    if on_statement is not None:
        on_statement(sql)
    adapted = sync.connection.dbapi_connection
    try:
        try:
            if sync.dialect.name == "sqlite":
                rows, count = await _sqlite(sync.connection.driver_connection, sql, args,
                                            many, bool(plan.compiled._result_columns))
            else:
                rows, count = await _asyncpg(adapted, sql, args, many,
                                             bool(plan.compiled._result_columns))
        except Exception as error:
            # The adapter's own translation (asyncpg's exceptions onto its DBAPI classes; a
            # closed connection forgets its transaction), as a statement through it gets.
            adapted._handle_exception(error)
    except sync.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(sql, args, error, sync.dialect.loaded_dbapi.Error,
                                      dialect=sync.dialect) from error
    return Rows(plan.read(rows), count)


async def _sqlite(driver: Any, sql: str, args: list[list[Any]], many: bool,
                  returns: bool) -> tuple[list[Any], int]:
    if not (many and returns):
        rows, count = await driver.run(sql, args, many)
        return rows, count
    # sqlite3's executemany keeps no rows: one statement each (in-process, no round trips).
    rows = []
    for one in args:
        more, _ = await driver.run(sql, [one], False)
        rows += more
    return rows, len(rows)


async def _asyncpg(adapted: Any, sql: str, args: list[list[Any]], many: bool,
                   returns: bool) -> tuple[list[Any], int]:
    # SQLAlchemy's asyncpg adapter opens the transaction with the first statement; do what it
    # does, under its lock, so this statement is part of it.
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        driver = adapted._connection
        if many:
            if returns:  # pipelined as executemany is: one round trip for them all
                rows = await driver.fetchmany(sql, args)
                return rows, len(rows)
            await driver.executemany(sql, args)
            return [], len(args)
        if returns:
            rows = await driver.fetch(sql, *args[0])
            return rows, len(rows)
        status = await driver.execute(sql, *args[0])
        return [], _count(status)


def _count(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


_LATER = "panelpilot_fast_later"


async def later(conn: AsyncConnection | AsyncSession, statement: ClauseElement,
                params: Params) -> None:
    """Run a write whose answer nobody waits for at the end of the transaction, with the others
    of its statement: in a transaction that collects them (``collecting``), the writes queued
    this way run as one executemany per statement just before the commit (asyncpg sends them
    in one round trip, where a group commit's writes would each cost one), in the order they
    were queued for each statement, statement after statement. Only for writes that nothing
    later in the same transaction reads, and that do not depend on each other across
    statements. Anywhere else it runs at once."""
    if not isinstance(conn, AsyncConnection):
        conn = await conn.connection()
    queued = conn.info.get(_LATER)
    if queued is None:
        await run(conn, statement, params)
    else:
        queued.append((statement, params))


class AtEnd(Protocol):
    """Work gathered during a transaction and done once at its end (see ``at_end``)."""

    async def run(self, conn: AsyncConnection) -> None: ...


E = TypeVar("E", bound=AtEnd)
_ENDS = "panelpilot_fast_at_end"


def collects(conn: AsyncConnection) -> bool:
    """Whether ``conn``'s transaction collects ``later`` writes and ``at_end`` work."""
    return _ENDS in conn.info


def at_end(conn: AsyncConnection, key: str, make: Callable[[], E]) -> E | None:
    """The object that gathers ``key``'s work in this transaction (``make()`` the first
    time), whose ``run(conn)`` is awaited once, after the ``later`` writes, just before the
    commit; None when the transaction does not collect (then do the work at once)."""
    ends: dict[str, Any] | None = conn.info.get(_ENDS)
    if ends is None:
        return None
    found = ends.get(key)
    if found is None:
        found = ends[key] = make()
    return cast(E, found)


@contextlib.asynccontextmanager
async def collecting(conn: AsyncConnection) -> AsyncIterator[None]:
    """Collect ``later`` writes and ``at_end`` work on ``conn`` while the block runs; run
    them when it ends without an error (still inside the transaction)."""
    queued: list[tuple[ClauseElement, Params]] = []
    ends: dict[str, AtEnd] = {}
    conn.info[_LATER], conn.info[_ENDS] = queued, ends
    try:
        yield
    finally:
        conn.info.pop(_LATER, None)
        conn.info.pop(_ENDS, None)
    groups: dict[int, tuple[ClauseElement, list[Params]]] = {}
    for statement, params in queued:
        groups.setdefault(id(statement), (statement, []))[1].append(params)
    for statement, many in groups.values():
        await run(conn, statement, many)
    for end in ends.values():
        await end.run(conn)
