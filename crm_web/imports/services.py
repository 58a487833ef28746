"""CSV imports for any target: upload, mapping, a dry run, the import itself, progress, rejects.

A run reads the stored file in batches, lets the target check each batch column by column,
and streams every row (good or not) with binary COPY into a temporary staging table. One
query then plans each row (create, update, skip, duplicate, reject) against the file and the
stored records, and the target writes the planned rows set-based. The whole run is one
transaction: all valid rows or none. Progress goes to the job row through a second
connection, so the page can show it while the run's own transaction is still open.

Over 600 lines on purpose: upload, mapping, dry run and run share the staging table, the plan
query and the progress writer of one transaction; what differs per record type lives in the
targets (customers/importing.py, leads/importing.py), CSV reading in csvfile.py.
"""

import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from crm_web import jobs
from crm_web.csv_writer import stream_csv
from crm_web.dashboard import services as dashboards
from crm_web.db import (
    analyze_loaded,
    atomic,
    current_organization_id,
    current_tenant,
    tenant_scope,
)
from crm_web.errors import Conflict, NotFound, ServiceError, ValidationError
from crm_web.extensions import db
from crm_web.imports import csvfile
from crm_web.imports.models import DEDUPE_MODES, ImportJob, ImportReject
from crm_web.imports.targets import ImportTarget, get_target, guess_mapping
from crm_web.pagination import Page, keyset_page
from crm_web.storage import TooLarge, delete_on_rollback, get_storage

log = logging.getLogger("crm.imports")

BATCH_ROWS = 5000
PROGRESS_SECONDS = 0.5
# A queued or running job untouched this long is checked by the sweep: a run holds an advisory
# lock (RUN_LOCK, job id) while its transaction lives, and PostgreSQL drops it with a dead worker.
STALE_AFTER = timedelta(seconds=30)
RUN_LOCK = 7301
RUN_WORK_MEM = "256MB"
STAGING = "import_staging"
PLAN = "import_plan"
OUTCOMES = ("create", "update", "skip", "duplicate", "reject")
# COPY's binary types for the staging columns' SQL types.
COPY_TYPES = {"text": "text", "bool": "bool", "date": "date", "numeric": "numeric"}
COPY_TYPES |= {"text[]": "text[]", "bigint": "int8"}


def max_bytes() -> int:
    return current_app.config["IMPORT_MAX_BYTES"]


def too_large_message(limit: int | None = None) -> str:
    return _(
        "The file is larger than %(megabytes)s MB, the most one import takes. Split it into "
        "smaller files.",
        megabytes=round((limit or max_bytes()) / (1024 * 1024)),
    )


def get_import(job_id: int) -> ImportJob:
    """This organization's import job, or NotFound."""
    job = db.session.scalar(
        select(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.organization_id == current_organization_id())
        # The worker updates jobs set-based: always read what is stored.
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise NotFound(_("No such import."))
    return job


def recent_imports(target: str, limit: int = 10) -> list[ImportJob]:
    """The latest imports of this kind, newest first."""
    return list(
        db.session.scalars(
            select(ImportJob)
            .where(
                ImportJob.organization_id == current_organization_id(), ImportJob.target == target
            )
            .order_by(ImportJob.id.desc())
            .limit(limit)
        )
    )


@atomic
def create_import(target_name: str, filename: str, stream: BinaryIO) -> ImportJob:
    """Store an uploaded file and read its header; the job then waits for its column mapping."""
    target = get_target(target_name)
    organization_id = current_organization_id()
    storage = get_storage()
    key = f"imports/{organization_id}/{uuid.uuid4().hex}.csv"
    try:
        size = storage.save(key, stream, max_bytes())
    except TooLarge:
        message = too_large_message()
        raise ValidationError(message, {"file": message}) from None
    delete_on_rollback(key)
    with storage.open(key) as stored:
        sniffed = csvfile.sniff(stored, size)
    job = ImportJob(
        organization_id=organization_id,
        target=target.name,
        status="uploaded",
        phase="check",
        stage="",
        filename=PurePath(filename or "upload.csv").name[:255] or "upload.csv",
        storage_key=key,
        size_bytes=size,
        encoding=sniffed.encoding,
        encoding_note=sniffed.encoding_note,
        delimiter=sniffed.delimiter,
        headers=sniffed.headers,
        sample=sniffed.sample,
        mapping=guess_mapping(target, sniffed.headers),
        dedupe_mode="skip",
        rows_total=sniffed.rows_estimate,
        rows_processed=0,
        rows_rejected=0,
        report={},
        message="",
        created_by_id=current_tenant().user_id,
    )
    db.session.add(job)
    db.session.flush()
    return job


def _editable(job: ImportJob) -> None:
    if job.status in ("queued", "running"):
        raise Conflict(_("This import is running; wait for it to finish."))
    if job.status == "imported":
        raise Conflict(
            _("This file has been imported already; upload it again to import it again.")
        )


@atomic
def change_encoding(job_id: int, encoding: str) -> ImportJob:
    """Read the file again as another encoding (when the guess showed wrong letters)."""
    job = get_import(job_id)
    _editable(job)
    if encoding not in csvfile.CHOOSABLE_ENCODINGS:
        raise ValidationError(_("Choose one of the listed encodings."), {"encoding": _("Unknown.")})
    with get_storage().open(job.storage_key) as stored:
        sniffed = csvfile.sniff(stored, job.size_bytes, encoding=encoding)
    job.encoding = sniffed.encoding
    job.encoding_note = ""
    job.delimiter = sniffed.delimiter
    job.headers = sniffed.headers
    job.sample = sniffed.sample
    job.mapping = guess_mapping(get_target(job.target), sniffed.headers)
    job.status, job.report, job.message = "uploaded", {}, ""
    return job


def _check_mapping(target: ImportTarget, job: ImportJob, mapping: list[str], mode: str) -> None:
    errors = {}
    if mode not in DEDUPE_MODES:
        errors["dedupe_mode"] = _("Choose skip, update or create.")
    if len(mapping) != len(job.headers):
        raise ValidationError(_("Map every column of the file (or leave it out)."))
    names = {f.name for f in target.fields}
    mapped = [name for name in mapping if name]
    for index, name in enumerate(mapping):
        if name and name not in names:
            errors[f"column_{index}"] = _("Unknown field.")
        elif name and mapped.count(name) > 1:
            errors[f"column_{index}"] = _(
                "%(field)s is mapped twice.", field=target.field(name).label_on_form
            )
    if not errors:
        errors.update(target.check_mapping(set(mapped), mode))
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(
            _("Please check the column mapping: %(problem)s", problem=first), errors
        )


@atomic
def check_import(job_id: int, mapping: list[str], dedupe_mode: str) -> ImportJob:
    """Save the column mapping and queue the dry run (its report comes before any import)."""
    job = get_import(job_id)
    _editable(job)
    target = get_target(job.target)
    _check_mapping(target, job, mapping, dedupe_mode)
    job.mapping = list(mapping)
    job.dedupe_mode = dedupe_mode
    _queue(job, "check")
    jobs.enqueue_after_commit(jobs.RUN_IMPORT_JOB, job.organization_id, job.id)
    return job


@atomic
def start_import(job_id: int) -> ImportJob:
    """Queue the import of a checked file with the mapping its dry run used."""
    job = get_import(job_id)
    if job.status != "checked":
        _editable(job)
        raise Conflict(_("Check the file (the dry run) before importing it."))
    _queue(job, "import")
    jobs.enqueue_after_commit(jobs.RUN_IMPORT_JOB, job.organization_id, job.id)

    return job


def _queue(job: ImportJob, phase: str) -> None:
    job.status, job.phase, job.stage = "queued", phase, "Waiting for a worker"
    job.rows_processed = job.rows_rejected = 0
    job.message = ""
    job.started_at = job.finished_at = None
    # The worker's changes are written under the name of whoever asked for the run.
    job.queued_by_id = current_tenant().user_id


class _Progress:
    """Writes a running job's progress through its own connection and transaction."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last = time.monotonic()

    def due(self) -> bool:
        """Whether the page's last report is old enough for a new one."""
        return time.monotonic() - self.last >= PROGRESS_SECONDS

    def __call__(self, **values) -> None:
        self.last = time.monotonic()
        # A session of its own: the run's transaction commits only at the end.
        with Session(db.engine) as side:
            side.execute(
                update(ImportJob.__table__)
                .where(ImportJob.__table__.c.id == self.job_id)
                .values(**values, updated_at=func.now())
            )
            side.commit()


def run_import_job(job_id: int) -> None:
    """The worker's entry: run a queued dry run or import; a failure is written on the job."""
    job = db.session.scalar(
        select(ImportJob).where(
            ImportJob.id == job_id, ImportJob.organization_id == current_organization_id()
        )
    )
    if job is None or job.status != "queued":
        # A message delivered twice, or a job changed since: nothing to do.
        return
    progress = _Progress(job_id)
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == "queued")
        .values(status="running", stage="Reading rows", started_at=func.now())
        .returning(ImportJob.id)
        .execution_options(synchronize_session=False)
    ).first()
    db.session.commit()
    if claimed is None:
        return
    log.info(
        "import %s started job=%s target=%s file=%s", job.phase, job_id, job.target, job.filename
    )
    try:
        with tenant_scope(job.organization_id, job.queued_by_id):
            report = _run(job_id, progress)
    except ServiceError as exc:
        log.warning("import %s failed job=%s: %s", job.phase, job_id, exc.message)
        _fail(job_id, exc.message)
    except Exception:
        log.exception("import %s failed job=%s", job.phase, job_id)
        _fail(
            job_id, _("The import stopped because of an error on our side; nothing was imported.")
        )
        raise
    else:
        log.info("import %s finished job=%s", job.phase, job_id)
        if changed := report.get("created", 0) + report.get("updated", 0):
            # After the commit, so the list read next is planned with the rows just written.
            with tenant_scope(job.organization_id, job.queued_by_id):
                analyzed = atomic(analyze_loaded)(get_target(job.target).loaded_tables, changed)
            if analyzed:
                log.info("import analyzed job=%s tables=%s", job_id, ",".join(analyzed))
            # The dashboards' month and day views count what was just imported.
            dashboards.refresh_later()


def _lock_key(job_id: int) -> dict:
    return {"lock": RUN_LOCK, "job": job_id % 2**31}


def sweep(*, now: datetime | None = None) -> int:
    """Jobs whose run stopped with its worker fail visibly (nothing was imported: a run is one
    transaction) and queued jobs whose message was lost are sent again; returns how many were
    touched. For the scheduler, across organizations."""
    now = now or datetime.now(UTC)
    candidates = db.session.execute(
        text("SELECT organization_id, id FROM import_jobs_without_progress(:stale)"),
        {"stale": now - STALE_AFTER},
    ).all()
    db.session.commit()
    touched = 0
    for organization_id, job_id in candidates:
        with tenant_scope(organization_id):
            touched += _recover(job_id, now)
    return touched


@atomic
def _recover(job_id: int, now: datetime) -> int:
    if not db.session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:lock, :job)"), _lock_key(job_id)
    ):
        return 0  # its run is alive: a long statement writes no progress
    job = db.session.scalar(
        select(ImportJob)
        .where(
            ImportJob.id == job_id,
            ImportJob.organization_id == current_organization_id(),
            ImportJob.status.in_(("queued", "running")),
            ImportJob.updated_at < now - STALE_AFTER,
        )
        .with_for_update()
    )
    if job is None:
        return 0
    if job.status == "queued":
        job.updated_at = now
        jobs.enqueue_after_commit(jobs.RUN_IMPORT_JOB, job.organization_id, job.id)
        log.warning("import queued job=%s sent again: its message was lost", job.id)
        return 1
    job.status, job.stage, job.finished_at = "failed", "", now
    job.message = (
        _("The worker running this import stopped; nothing was imported. Start it again.")
        if job.phase == "import"
        else _("The worker checking this file stopped. Check it again.")
    )
    log.error("import %s job=%s failed: its worker stopped", job.phase, job.id)
    return 1


def _fail(job_id: int, message: str) -> None:
    db.session.rollback()
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(status="failed", stage="", message=message, finished_at=func.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


@atomic
def _run(job_id: int, progress: _Progress) -> dict[str, int]:
    """Check or import the file in one transaction; returns the job's report."""
    # Held until this transaction ends, by commit, rollback or the worker's death.
    db.session.execute(text("SELECT pg_advisory_xact_lock(:lock, :job)"), _lock_key(job_id))
    job = get_import(job_id)
    target = get_target(job.target)
    columns = [(index, name) for index, name in enumerate(job.mapping) if name]
    mapped = tuple(name for _, name in columns)
    importing = job.phase == "import"
    # The plan sorts and hashes every row by its keys: in memory, not in temp files.
    db.session.execute(text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))
    # The run's statements are few and big, so the planner's costs call for JIT compiling
    # them; but their time goes to sorting and to index upkeep, which compiling does not
    # speed up, and at a million rows compiling each took two seconds.
    db.session.execute(text("SET LOCAL jit = off"))
    rows, rejected = _stage(job, target, columns, progress)
    progress(stage="Finding duplicates", rows_processed=rows, rows_rejected=rejected)
    counts = _plan(target, mapped, job.dedupe_mode)
    stats = None
    if importing:
        progress(stage="Saving")
        stats = target.write(PLAN, job.id, mapped, job.dedupe_mode)
    elif target.rehearses:
        # The dry run writes too, and takes it back: what only the database can refuse (the
        # stock an order takes) is in its report, row by row.
        progress(stage="Trying the rows")
        rehearsal = db.session.begin_nested()
        stats = target.write(PLAN, job.id, mapped, job.dedupe_mode)
        rehearsal.rollback()
    if stats is not None and stats.refused:
        counts = _refuse(stats.refused)
    _record_rejects(target, job.id)
    report = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    report["rows"] = rows
    if importing:
        report["created"], report["updated"] = stats.created, stats.updated
        report["unchanged"] = counts.get("update", 0) - stats.updated
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id)
        .values(
            status="imported" if importing else "checked",
            stage="",
            rows_total=rows,
            rows_processed=rows,
            rows_rejected=report["reject"],
            report=report,
            finished_at=datetime.now(UTC),
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )
    return report


def _stage(
    job: ImportJob, target: ImportTarget, columns: list[tuple[int, str]], progress: _Progress
) -> tuple[int, int]:
    """COPY every data row into the staging table; returns (rows, rows rejected)."""
    fields = [target.field(name) for _, name in columns]
    session = db.session()
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{STAGING}"))
    definitions = ", ".join(f"{f.name} {f.sql_type}" for f in fields)
    session.execute(
        text(
            f"CREATE TEMP TABLE {STAGING} (row_number integer NOT NULL, reason text, "
            f"update_only boolean NOT NULL{', ' + definitions if definitions else ''}) "
            "ON COMMIT DROP"
        )
    )
    context = target.context()
    width, total = len(job.headers), job.rows_total
    rows = rejected = 0
    connection = session.connection().connection.driver_connection
    names = ", ".join(["row_number", "reason", "update_only", *(f.name for f in fields)])
    sql = f"COPY {STAGING} ({names}) FROM STDIN (FORMAT BINARY)"
    types = ["int4", "text", "bool", *(COPY_TYPES[f.sql_type] for f in fields)]
    with get_storage().open(job.storage_key) as stored, connection.cursor() as cursor:
        records = csvfile.records(stored, job.encoding, job.delimiter)
        next(records, None)  # the header
        batches = _batches(records)
        finished = False
        while not finished:
            # One COPY per progress report: the report may need this connection (in tests,
            # where everything shares one), and a connection in COPY can do nothing else.
            with cursor.copy(sql) as copy:
                copy.set_types(types)
                finished = True
                for batch in batches:
                    numbers, cells, shape_errors = _shape(batch, width, columns)
                    cleaned = target.clean(cells, context, job.dedupe_mode)
                    reasons = cleaned.reasons
                    update_only = cleaned.update_only or [False] * len(numbers)
                    for index, error in shape_errors.items():
                        reasons[index], update_only[index] = error, False
                    values = [cleaned.values[f.name] for f in fields]
                    for row in zip(numbers, reasons, update_only, *values, strict=True):
                        copy.write_row(row)
                    rows += len(numbers)
                    rejected += sum(
                        1
                        for reason, partial in zip(reasons, update_only, strict=True)
                        if reason and not partial
                    )
                    if progress.due():
                        finished = False
                        break
            # The upload's estimate misses rows that hold line breaks.
            progress(rows_processed=rows, rows_rejected=rejected, rows_total=max(total, rows))
    if rows == 0:
        message = _("The file has a header row but no rows under it.")
        raise ValidationError(message, {"file": message})
    session.execute(text(f"ANALYZE {STAGING}"))
    return rows, rejected


def _batches(records: Iterator[tuple[int, list[str]]]) -> Iterator[list[tuple[int, list[str]]]]:
    while batch := list(itertools.islice(records, BATCH_ROWS)):
        yield batch


def _shape(
    batch: list[tuple[int, list[str]]], width: int, columns: list[tuple[int, str]]
) -> tuple[list[int], dict[str, list[str]], dict[int, str]]:
    """Row numbers, the mapped cells by field (stripped, NUL-free) and the rows of the wrong width."""
    numbers, rows = (list(part) for part in zip(*batch, strict=True))
    errors = {}
    for index, row in enumerate(rows):
        if len(row) != width:
            # Trailing empty cells (a spreadsheet's stray delimiters) are harmless.
            if len(row) > width and not any(cell.strip() for cell in row[width:]):
                continue
            errors[index] = _(
                "This row has %(count)s fields; the header has %(width)s.",
                count=len(row),
                width=width,
            )
            rows[index] = [""] * width
    # Column by column, in C where possible: the transposition, the stripping, the checks.
    # (Rows with stray trailing cells are longer: zip stops at the header's width.)
    transposed = list(zip(*rows, strict=False))
    cells = {}
    for position, name in columns:
        column = list(map(str.strip, transposed[position]))
        joined = "\x1f".join(column)
        if "\x00" in joined or "'" in joined:
            column = [csvfile.unescape_formula(value.replace("\x00", "")) for value in column]
        cells[name] = column
    return numbers, cells, errors


def _plan(target: ImportTarget, mapped: tuple[str, ...], mode: str) -> dict[str, int]:
    """Decide every staged row's outcome into the temp table PLAN; returns counts per outcome."""
    session = db.session()
    keys = [(name, label) for name, label in target.dedupe_keys if name in mapped]
    candidate = "(s.reason IS NULL OR s.update_only)"
    deduping = mode != "create"
    # A match the file may not change (see ImportTarget.locked) is skipped, saying why.
    locked_condition, locked_reason = "false", None
    if target.locked and mode == "update":
        locked_condition, locked_reason = target.locked
    # Keys are only compared for equality: byte order makes the same groups as the database's
    # collation, and sorting a million keys by it for the partitions takes a fifth less time.
    bytewise = 'COLLATE "C"'
    firsts, joins, matches, locks = [], [], [], []
    for position, (key, _label) in enumerate(keys if deduping else ()):
        firsts.append(
            f"CASE WHEN {candidate} AND s.{key} <> '' THEN min(s.row_number) "
            f"FILTER (WHERE {candidate}) OVER (PARTITION BY s.{key} {bytewise}) "
            f"END AS first_{position}"
        )
        # One probe of the key's index per row, whatever the planner believes about the
        # organization's records: right after a large import their statistics say there are
        # none, and a join planned on that belief compares every row with every record. (No
        # ORDER BY id LIMIT 1, nor a lone min(id): both invite a walk of the id index.)
        joins.append(
            f"LEFT JOIN LATERAL (SELECT min(t.id) AS id, "
            f"(array_agg({locked_condition} ORDER BY t.id))[1] AS locked "
            f"FROM {target.table} t WHERE t.organization_id = :org AND t.{key} <> '' "
            f"AND t.{key} = s.{key}) m{position} ON true"
        )
        matches.append(f"m{position}.id")
        locks.append(f"WHEN m{position}.id IS NOT NULL THEN m{position}.locked")
    match = f"coalesce({', '.join(matches)})" if matches else "NULL::bigint"
    locked = f"CASE {' '.join(locks)} ELSE false END" if locks else "false"
    first_columns = "".join(f", {first}" for first in firsts)
    # The earliest earlier row sharing a key, and which key it shares.
    dup_terms = [
        f"CASE WHEN first_{position} < row_number THEN first_{position} END"
        for position in range(len(keys))
    ]
    dup_of = f"least({', '.join(dup_terms)})" if deduping and keys else "NULL::integer"
    dup_label = (
        "CASE "
        + " ".join(
            f"WHEN first_{position} < row_number AND first_{position} = dup_of "
            f"THEN '{label.replace(chr(39), chr(39) * 2)}'"
            for position, (_key, label) in enumerate(keys)
        )
        + " END"
        if deduping and keys
        else "NULL::text"
    )
    # Several rows matching one record: only the first may update it.
    first_match = (
        "min(row_number) FILTER (WHERE dup_of IS NULL AND (reason IS NULL OR update_only)) "
        "OVER (PARTITION BY match_id)"
        if mode == "update"
        else "NULL::integer"
    )
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{PLAN}"))
    session.execute(
        text(
            f"""
            CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
            SELECT planned.*,
                   CASE WHEN action = 'create' THEN
                       count(*) FILTER (WHERE action = 'create') OVER (ORDER BY row_number)
                   END AS create_seq
            FROM (
                SELECT with_first.*,
                       CASE
                           WHEN reason IS NOT NULL AND NOT update_only THEN 'reject'
                           WHEN dup_of IS NOT NULL THEN 'duplicate'
                           WHEN match_id IS NOT NULL AND :mode = 'skip' THEN 'skip'
                           WHEN locked THEN 'skip'
                           WHEN match_id IS NOT NULL AND first_match < row_number THEN 'duplicate'
                           WHEN match_id IS NOT NULL THEN 'update'
                           WHEN update_only THEN 'reject'
                           ELSE 'create'
                       END AS action,
                       CASE
                           WHEN reason IS NOT NULL AND NOT update_only THEN reason
                           WHEN dup_of IS NOT NULL THEN format('Same %s as row %s.', dup_label, dup_of)
                           WHEN match_id IS NOT NULL AND :mode = 'skip' THEN NULL
                           WHEN locked THEN :locked_reason
                           WHEN match_id IS NOT NULL AND first_match < row_number
                               THEN format('Matches the same record as row %s.', first_match)
                           WHEN match_id IS NOT NULL THEN NULL
                           WHEN update_only THEN reason || ' No existing record matches it.'
                       END AS note
                FROM (
                    SELECT deduped.*, {dup_label} AS dup_label, {first_match} AS first_match
                    FROM (
                        SELECT matched.*, {dup_of} AS dup_of
                        FROM (
                            SELECT s.*, {match} AS match_id, {locked} AS locked{first_columns}
                            FROM {STAGING} s {" ".join(joins)}
                        ) matched
                    ) deduped
                ) with_first
            ) planned
            """
        ),
        {"org": current_organization_id(), "mode": mode, "locked_reason": locked_reason},
    )
    session.execute(text(f"ANALYZE {PLAN}"))
    return dict(session.execute(text(f"SELECT action, count(*) FROM {PLAN} GROUP BY action")).all())


def _refuse(refused: list[tuple[int, str, str]]) -> dict[str, int]:
    """Turn the planned rows a target's write refused into rejects or skips (again, after a
    dry run took its write back); returns the new counts per outcome."""
    session = db.session()
    numbers, actions, notes = (list(column) for column in zip(*refused, strict=True))
    session.execute(
        text(
            f"""
            UPDATE {PLAN} p SET action = r.action, note = r.note
            FROM unnest(CAST(:numbers AS integer[]), CAST(:actions AS text[]),
                        CAST(:notes AS text[])) r(row_number, action, note)
            WHERE p.row_number = r.row_number
            """
        ),
        {"numbers": numbers, "actions": actions, "notes": notes},
    )
    return dict(session.execute(text(f"SELECT action, count(*) FROM {PLAN} GROUP BY action")).all())


def _record_rejects(target: ImportTarget, job_id: int) -> None:
    """Replace the job's rejects with this run's rows that will not be written, and why."""
    session = db.session()
    organization_id = current_organization_id()
    session.execute(
        ImportReject.__table__.delete().where(
            ImportReject.organization_id == organization_id, ImportReject.job_id == job_id
        )
    )
    session.execute(
        text(
            f"""
            INSERT INTO import_rejects (organization_id, job_id, row_number, outcome, reason)
            SELECT :org, :job, p.row_number, p.action,
                   coalesce(p.note, format('Already exists as %s (skipped).', t.{target.record_label}))
            FROM {PLAN} p LEFT JOIN {target.table} t
                ON p.action = 'skip' AND t.id = p.match_id AND t.organization_id = :org
            WHERE p.action IN ('reject', 'duplicate', 'skip')
            """
        ),
        {"org": organization_id, "job": job_id},
    )


def rejects_page(job_id: int, cursor: str | None = None, limit: int = 50) -> Page:
    """The job's left-out rows in file order, a keyset page at a time."""
    job = get_import(job_id)
    stmt = select(ImportReject).where(
        ImportReject.organization_id == job.organization_id, ImportReject.job_id == job.id
    )
    return keyset_page(
        stmt, (ImportReject.row_number,), cursor=cursor, limit=limit, descending=False
    )


def rejects_csv(job_id: int) -> Iterator[str]:
    """The left-out rows as they were in the file, each with its row number and reason: a
    generator that keeps the caller's tenant, so a response can stream it."""
    job = get_import(job_id)
    tenant = current_tenant()

    def chunks() -> Iterator[str]:
        with tenant_scope(tenant.organization_id, tenant.user_id):
            yield from _rejects_csv(job)

    return chunks()


def _rejects_csv(job: ImportJob) -> Iterator[str]:
    organization_id = job.organization_id

    def reasons() -> Iterator[tuple[int, str]]:
        after = 0
        while True:
            batch = db.session.execute(
                select(ImportReject.row_number, ImportReject.reason)
                .where(
                    ImportReject.organization_id == organization_id,
                    ImportReject.job_id == job.id,
                    ImportReject.row_number > after,
                )
                .order_by(ImportReject.row_number)
                .limit(BATCH_ROWS)
            ).all()
            if not batch:
                return
            yield from batch
            after = batch[-1][0]

    def rows() -> Iterator[list]:
        pending = reasons()
        wanted = next(pending, None)
        if wanted is None:
            return
        with get_storage().open(job.storage_key) as stored:
            for number, row in csvfile.records(stored, job.encoding, job.delimiter):
                while wanted is not None and wanted[0] < number:
                    wanted = next(pending, None)
                if wanted is None:
                    return
                if wanted[0] == number:
                    yield [number, wanted[1], *row]

    yield from stream_csv(["Row", "Reason", *job.headers], rows())
