"""Customer CSV import against a raw COPY of the same file, in the same run.

Run by hand (prints figures; not a test):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/bench_customer_import.py --rows 1000000

It migrates the database, writes an N-row customer CSV (names, email, phone, city, country,
consent; 0.1% bad emails), COPYs it as it is into a plain unindexed table (the floor: what
PostgreSQL alone needs to take the bytes), then runs the import service the worker runs, dry
run and import, into a fresh organization, and prints rows/s, the ratio to raw COPY, and
where the import's time went. A second organization that already holds the N customers is
then imported into again in "update" mode (every row matches, half of them change).
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


def raw_copy(url: str, path: str, width: int = len(HEADER)) -> float:
    """Seconds to COPY the file, as it is, into a plain table with one text column per field."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_raw_copy")
        columns = ", ".join(f"c{i} text" for i in range(width))
        connection.execute(f"CREATE TABLE bench_raw_copy ({columns})")
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY bench_raw_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
            open(path, "rb") as stream,
        ):
            while chunk := stream.read(1024 * 1024):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE bench_raw_copy")
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
    from crm_web.accounts.services import create_organization
    from crm_web.customers.importing import CustomerTarget
    from crm_web.db import set_tenant
    from crm_web.imports import services

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

        copy_seconds = raw_copy(app.config["DATABASE_URL"], path)
        copy_rate = args.rows / copy_seconds
        print(f"raw COPY into a plain table: {copy_seconds:6.1f} s = {copy_rate:>10,.0f} rows/s")

        def import_file(file_path: str, mode: str, label: str) -> None:
            with open(file_path, "rb") as stream:
                job = services.create_import("customers", "bench.csv", stream)
            services.check_import(job.id, job.mapping, mode)
            stages.clear()
            started = time.perf_counter()
            services.run_import_job(job.id)
            check_seconds = time.perf_counter() - started
            check = services.get_import(job.id)
            assert check.status == "checked", check.message
            print(
                f"\n{label}: dry run {check_seconds:6.1f} s = {args.rows / check_seconds:>10,.0f} rows/s"
            )
            services.start_import(job.id)
            stages.clear()
            started = time.perf_counter()
            services.run_import_job(job.id)
            seconds = time.perf_counter() - started
            done = services.get_import(job.id)
            assert done.status == "imported", done.message
            rate = args.rows / seconds
            print(
                f"{label}: import  {seconds:6.1f} s = {rate:>10,.0f} rows/s"
                f"   ratio to raw COPY {rate / copy_rate:.2f}   {dict(done.report)}"
            )
            for name, spent in stages.items():
                print(f"    {name:<32} {spent:6.1f} s")

        slug = f"bench-{uuid.uuid4().hex[:8]}"
        organization, admin = create_organization(
            name="Import bench",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Bench",
            admin_password="bench-password",
            timezone="Europe/Istanbul",
        )
        set_tenant(organization.id, admin.id)
        import_file(path, "skip", "new customers")
        if not args.skip_update:
            changed = os.path.join(directory, "changed.csv")
            write_file(changed, args.rows, variant=1)
            import_file(changed, "update", "update of the same customers")


if __name__ == "__main__":
    main()
