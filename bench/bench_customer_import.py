"""Customer CSV import against a raw COPY of the same file, in the same run.

Run by hand (prints figures; not a test), on a fresh database of its own (the tables' size
changes what index maintenance costs):

    createdb -h 127.0.0.1 -U postgres crm_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_customer_import.py --rows 1000000

It migrates the database, writes an N-row customer CSV (names, email, phone, city, country,
consent; 0.1% bad emails) and COPYs it as it is, twice: into a table shaped like customers
(its columns, generated columns, checks, indexes and foreign keys; the baseline of the issue's
target, since it pays the same index maintenance as the import), and into a plain unindexed
table of text columns (the floor: what PostgreSQL alone needs to take the bytes). Then it
runs the import service the worker runs, dry run and import, into a fresh organization, and
prints rows/s, the ratios to both COPYs, and where the import's time went. The organization,
now holding the N customers, then imports a second file in "update" mode (every row matches
and changes: another last name and city, and for some the email consent).

Each step also prints its CPU time (this process plus the database's server processes, read
from /proc, so the server must run on this machine): on a busy machine the wall time counts
waiting for a core, and the ratio by CPU time is the steadier figure.
"""

import argparse
import csv
import functools
import os
import tempfile
import time
import uuid
from collections import defaultdict

import psycopg

HEADER = ["Ad", "Soyad", "E-posta", "Telefon", "Şehir", "Ülke", "E-posta izni", "SMS izni"]
CITIES = ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "London", "Manchester")


def write_file(path: str, rows: int, variant: int = 0) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            email = "broken.address" if i % 1000 == 999 else f"user{i}.x@example{i % 97}.com"
            writer.writerow(
                [
                    f"Ad{i}",
                    f"Soyad{(i + variant) % 5000}",
                    email,
                    f"+90 532 {i // 10000:03d} {i % 10000:04d}",
                    CITIES[(i + variant) % len(CITIES)],
                    "TR",
                    "evet" if (i + variant) % 3 else "hayır",
                    "yes" if i % 2 else "no",
                ]
            )


# The file's columns in the customers table; the consent cells ("evet", "hayır") are not
# PostgreSQL booleans, so they land in text columns added to the copy.
COPY_COLUMNS = (
    "first_name",
    "last_name",
    "primary_email",
    "primary_phone",
    "city",
    "country",
    "email_consent",
    "sms_consent",
)


class Clock:
    """Wall time, and CPU time of this process plus the database server processes that serve
    this database (read from /proc: the server must run on this machine). On a busy machine
    the CPU seconds compare better than the wall time, which counts waiting for a core."""

    def __init__(self, url: str):
        self.monitor = psycopg.connect(url, autocommit=True)

    def _backends(self) -> dict[int, float]:
        pids = self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        ticks = os.sysconf("SC_CLK_TCK")
        seconds = {}
        for (pid,) in pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return seconds

    def start(self) -> None:
        self.server = self._backends()
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since start()."""
        server = self._backends()
        server_cpu = sum(spent - self.server.get(pid, 0.0) for pid, spent in server.items())
        return time.perf_counter() - self.wall, time.process_time() - self.cpu + server_cpu


def copy_file(
    connection: psycopg.Connection, clock: Clock, table: str, columns: str, path: str
) -> tuple[float, float]:
    """(wall, CPU) seconds to COPY the CSV file, as it is, into `table`."""
    clock.start()
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, HEADER true)") as copy,
        open(path, "rb") as stream,
    ):
        while chunk := stream.read(1024 * 1024):
            copy.write(chunk)
    return clock.stop()


def raw_copy_plain(
    url: str, clock: Clock, path: str, width: int = len(HEADER)
) -> tuple[float, float]:
    """The floor: the file into a plain table with one text column per field, no index."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_raw_copy")
        names = [f"c{i}" for i in range(width)]
        connection.execute(f"CREATE TABLE bench_raw_copy ({', '.join(f'{n} text' for n in names)})")
        seconds = copy_file(connection, clock, "bench_raw_copy", ", ".join(names), path)
        connection.execute("DROP TABLE bench_raw_copy")
    return seconds


def raw_copy_like_customers(
    url: str, clock: Clock, path: str, organization_id: int
) -> tuple[float, float]:
    """The target's baseline: the file into a table shaped like customers, with the same
    columns, generated columns, checks, indexes and foreign keys, so it pays the same index
    maintenance as the import. The columns the file lacks get the model's defaults (the
    organization, a customer code from a sequence, '' and false), as the import's do."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_copy_customers")
        connection.execute("DROP SEQUENCE IF EXISTS bench_copy_codes")
        connection.execute("CREATE TABLE bench_copy_customers (LIKE customers INCLUDING ALL)")
        foreign_keys = connection.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'customers'::regclass AND contype = 'f'"
        ).fetchall()
        for (definition,) in foreign_keys:
            connection.execute(f"ALTER TABLE bench_copy_customers ADD {definition}")
        connection.execute("CREATE SEQUENCE bench_copy_codes")
        defaults = {
            "organization_id": str(int(organization_id)),
            # (7 digits: a default cannot name a value twice, as customer_code_sql does.)
            "customer_code": "'CUS-' || lpad(nextval('bench_copy_codes')::text, 7, '0')",
            "customer_type": "'person'",
            "lifecycle_stage": "'lead'",
            "is_active": "true",
        }
        missing = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'bench_copy_customers' AND is_nullable = 'NO' "
            "AND column_default IS NULL AND is_generated = 'NEVER'"
        ).fetchall()
        for column, data_type in missing:
            if column in COPY_COLUMNS:
                continue
            default = defaults.get(column) or {"boolean": "false", "ARRAY": "'{}'"}.get(
                data_type, "''"
            )
            connection.execute(
                f"ALTER TABLE bench_copy_customers ALTER {column} SET DEFAULT {default}"
            )
        connection.execute(
            "ALTER TABLE bench_copy_customers ADD email_consent text, ADD sms_consent text"
        )
        seconds = copy_file(
            connection, clock, "bench_copy_customers", ", ".join(COPY_COLUMNS), path
        )
        connection.execute("DROP TABLE bench_copy_customers")
        connection.execute("DROP SEQUENCE bench_copy_codes")
    return seconds


def timed(stages: dict, name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] += time.perf_counter() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--skip-update", action="store_true", help="only the import into an empty organization"
    )
    args = parser.parse_args()

    from flask_migrate import upgrade

    from crm_web import create_app
    from crm_web.customers.importing import CustomerTarget
    from crm_web.db import set_tenant
    from crm_web.imports import services
    from crm_web.onboarding import create_organization

    app = create_app()
    app.config["IMPORT_MAX_BYTES"] = 1 << 40  # the bench file is past the upload limit
    app.config["UPLOAD_DIR"] = tempfile.mkdtemp(prefix="crm-bench-uploads-")
    stages: dict[str, float] = defaultdict(float)
    for name in ("_stage", "_plan", "_record_rejects"):
        setattr(services, name, timed(stages, name.strip("_"), getattr(services, name)))
    CustomerTarget.clean = timed(stages, "  of which clean (validation)", CustomerTarget.clean)
    CustomerTarget.write = timed(stages, "write (upsert)", CustomerTarget.write)

    with tempfile.TemporaryDirectory() as directory, app.app_context():
        upgrade(revision="heads")
        path = os.path.join(directory, "customers.csv")
        write_file(path, args.rows)
        size = os.path.getsize(path)
        print(f"file: {args.rows:,} rows, {size / 1e6:.0f} MB")

        slug = f"bench-{uuid.uuid4().hex[:8]}"
        organization, admin = create_organization(
            name="Import bench",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Bench",
            admin_password="quiet lake at dawn",
            timezone="Europe/Istanbul",
        )
        set_tenant(organization.id, admin.id)
        url = app.config["DATABASE_URL"]
        clock = Clock(url)
        baselines = {
            "customers-like table": raw_copy_like_customers(url, clock, path, organization.id),
            "plain table (floor)": raw_copy_plain(url, clock, path),
        }
        for name, (wall, cpu) in baselines.items():
            print(
                f"raw COPY into a {name:<22} {wall:6.1f} s = {args.rows / wall:>10,.0f} rows/s"
                f"   cpu {cpu:6.1f} s"
            )

        def import_file(file_path: str, mode: str, label: str) -> None:
            with open(file_path, "rb") as stream:
                job = services.create_import("customers", "bench.csv", stream)
            services.check_import(job.id, job.mapping, mode)
            stages.clear()
            clock.start()
            services.run_import_job(job.id)
            wall, cpu = clock.stop()
            check = services.get_import(job.id)
            assert check.status == "checked", check.message
            print(
                f"\n{label}: dry run {wall:6.1f} s = {args.rows / wall:>10,.0f} rows/s"
                f"   cpu {cpu:6.1f} s"
            )
            services.start_import(job.id)
            stages.clear()
            clock.start()
            services.run_import_job(job.id)
            wall, cpu = clock.stop()
            done = services.get_import(job.id)
            assert done.status == "imported", done.message
            print(
                f"{label}: import  {wall:6.1f} s = {args.rows / wall:>10,.0f} rows/s"
                f"   cpu {cpu:6.1f} s   {dict(done.report)}"
            )
            for name, (copy_wall, copy_cpu) in baselines.items():
                print(
                    f"    ratio to raw COPY into a {name:<22} {copy_wall / wall:5.2f}"
                    f"   (by cpu time {copy_cpu / cpu:5.2f})"
                )
            for name, spent in stages.items():
                print(f"    {name:<32} {spent:6.1f} s")
            print(f"    load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

        import_file(path, "skip", "new customers")
        if not args.skip_update:
            changed = os.path.join(directory, "changed.csv")
            write_file(changed, args.rows, variant=1)
            import_file(changed, "update", "update of the same customers")


if __name__ == "__main__":
    main()
