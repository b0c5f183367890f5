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
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import exc
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

    __slots__ = ("compiled", "sql", "names", "binders", "readers", "expanding", "shapes",
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
        self.names = tuple(compiled.positiontup or ())
        self.arrays: frozenset[str] = frozenset()
        if self.expanding and dialect.name == "postgresql":
            self._as_arrays()
        self.binders: Mapping[str, Callable[[Any], Any]] = compiled._bind_processors  # type: ignore[assignment]
        readers = [column.type._cached_result_processor(dialect, None)
                   for column in compiled._result_columns]
        self.readers = readers if any(readers) else None

    def args(self, params: Params | None) -> tuple[str, list[Any]]:
        """The SQL to send and its positional parameters, converted for the driver."""
        values = self.compiled.construct_params(params, _check=False)
        for key, default in self.defaults:
            values[key] = default.arg if default.is_scalar else default.arg(None)
        binders = self.binders
        if not self.expanding:
            out = []
            for name in self.names:
                value = values[name]
                binder = binders.get(name)
                if name in self.arrays:
                    out.append(list(value) if binder is None else [binder(v) for v in value])
                else:
                    out.append(value if binder is None else binder(value))
            return self.sql, out
        lengths = tuple(len(values[key]) for key in self.expanding)
        shape = self.shapes.get(lengths)
        if shape is None:
            shape = self.shapes[lengths] = self._shape(params)
        sql, places = shape
        out = []
        for name, index in places:
            value = values[name] if index is None else values[name][index]
            binder = binders.get(name)
            out.append(value if binder is None else binder(value))
        return sql, out

    def _as_arrays(self) -> None:
        """On PostgreSQL, ``IN (list)`` becomes ``= ANY(array)``: one statement whatever the
        lengths, so the server and asyncpg prepare it once (a new statement text costs a
        round trip to prepare, and its place in a cache of 100)."""
        plain = [name for name in self.names if name not in self.expanding]
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
        self.names = (*plain, *sorted(numbers, key=numbers.__getitem__))
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
    fairy = sync.connection
    many = isinstance(params, Sequence)
    if many:
        assert isinstance(params, Sequence)
        if not params:
            return Rows([], 0)
        sent = [plan.args(one) for one in params]
        if any(one[0] != sent[0][0] for one in sent):  # lists of different lengths
            rows, count = [], 0
            for one in params:
                done = await run(conn, statement, one)
                rows += done.rows
                count += done.rowcount
            return Rows(rows, count)
        sql, args = sent[0][0], [one[1] for one in sent]
    else:
        assert params is None or isinstance(params, Mapping)
        sql, one_args = plan.args(params)
        args = [one_args]
    if on_statement is not None:
        on_statement(sql)
    try:
        if sync.dialect.name == "sqlite":
            driver: Any = fairy.driver_connection
            rows, count = await driver.run(sql, args, many)
        else:
            rows, count = await _asyncpg(fairy.dbapi_connection, sql, args, many,
                                         bool(plan.compiled._result_columns))
    except exc.DBAPIError:
        raise
    except Exception as error:
        raise _translate(sync.dialect, sql, args, error) from error
    return Rows(plan.read(rows), count)


async def _asyncpg(adapted: Any, sql: str, args: list[list[Any]], many: bool,
                   returns: bool) -> tuple[list[Any], int]:
    # SQLAlchemy's asyncpg adapter opens the transaction with the first statement; do what it
    # does, under its lock, so this statement is part of it.
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        driver = adapted._connection
        if many:
            if returns:
                rows = [row for one in args for row in await driver.fetch(sql, *one)]
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


def _translate(dialect: Dialect, sql: str, args: Any, error: Exception) -> Exception:
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        # asyncpg's own exceptions: let the adapter map them onto its DBAPI classes.
        translate = getattr(dbapi, "_asyncpg_error_translate", None)
        if translate:
            for kind in type(error).__mro__:
                if kind in translate:
                    error = translate[kind](error.args[0] if error.args else str(error), error)
                    break
    if isinstance(error, dbapi.Error):
        return exc.DBAPIError.instance(sql, args, error, dbapi.Error,
                                       dialect=dialect)
    return error


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
