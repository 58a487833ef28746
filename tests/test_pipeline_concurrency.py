"""Two moves at once, in two real transactions on two connections (committed, then cleaned up)."""

import threading
import time
import uuid
from datetime import date

import psycopg
import pytest

from crm_web.db import atomic, clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.pipeline import board as pipeline_board
from crm_web.pipeline import opportunities, ordering
from crm_web.pipeline import stages as pipeline_stages
from tests import factories

pytestmark = pytest.mark.committed


@pytest.fixture
def board(app, database_url):
    """A committed organization with two columns of three deals each; deleted afterwards."""
    from crm_web.onboarding import create_organization

    slug = f"concurrent-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        organization, admin = create_organization(
            name="Concurrent",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Ada",
            admin_password="correct-horse",
        )
        set_tenant(organization.id, admin.id)
        customer = factories.customer_rows(organization.id, 1)[0]
        db.session.commit()
        stages = {stage.name: stage.id for stage in pipeline_stages.list_stages()}
        deals = {}
        for stage in ("Qualification", "Proposal"):
            for index in range(3):
                deals[f"{stage[0]}{index}"] = opportunities.create_opportunity(
                    name=f"{stage} {index}",
                    customer_id=customer.id,
                    amount="100",
                    expected_close_date=date(2030, 1, 1),
                    stage_id=stages[stage],
                ).id
        clear_tenant()
        db.session.remove()
    yield {"org": organization.id, "user": admin.id, "stages": stages, "deals": deals}
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM audit_log WHERE organization_id = %s", (organization.id,))
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization.id,))


def _column(app, board, stage: str) -> list[tuple[int, int]]:
    with app.app_context():
        set_tenant(board["org"], board["user"])
        try:
            rows = db.session.execute(
                db.text(
                    "SELECT id, position FROM opportunities WHERE stage_id = :s ORDER BY position, id"
                ),
                {"s": board["stages"][stage]},
            ).all()
            return [tuple(row) for row in rows]
        finally:
            clear_tenant()
            db.session.remove()


def _wait_for_a_blocked_backend(database_url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second move never waited for the first")


def _thread(app, board, errors: list, work) -> threading.Thread:
    """A thread running `work` as the board's admin in an app context (a session) of its own."""

    def run():
        with app.app_context():
            try:
                set_tenant(board["org"], board["user"])
                work()
            except Exception as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                clear_tenant()
                db.session.remove()

    return threading.Thread(target=run)


def _race(app, board, database_url, *, hold, finish, second) -> None:
    """`hold` takes locks in a transaction kept open until `second`, in another, waits for
    them; then `finish` ends the first transaction. Neither may fail."""
    held, release, errors = threading.Event(), threading.Event(), []

    def first():
        try:
            hold()
        finally:
            held.set()
        release.wait(10)
        finish()

    threads = [_thread(app, board, errors, first)]
    threads[0].start()
    assert held.wait(10)
    threads.append(_thread(app, board, errors, second))
    threads[1].start()
    try:
        _wait_for_a_blocked_backend(database_url)
    finally:
        release.set()
        for thread in threads:
            thread.join(15)
    assert errors == []


def _run_concurrently(app, board, database_url, first_move, second_move):
    """Start `first_move` and keep its transaction open until `second_move` waits on it."""
    _race(
        app,
        board,
        database_url,
        # The undecorated service: the transaction stays open until `finish` commits it.
        hold=lambda: opportunities.move_opportunity.__wrapped__(**first_move),
        finish=db.session.commit,
        second=lambda: opportunities.move_opportunity(**second_move),
    )


def test_two_moves_into_the_same_slot(app, board, database_url):
    deals, stages = board["deals"], board["stages"]
    # Column Proposal reads P2, P1, P0 (new deals go on top); both drop right below P2.
    anchor = deals["P2"]
    _run_concurrently(
        app,
        board,
        database_url,
        {"opportunity_id": deals["Q0"], "stage_id": stages["Proposal"], "after_id": anchor},
        {"opportunity_id": deals["Q1"], "stage_id": stages["Proposal"], "after_id": anchor},
    )
    column = _column(app, board, "Proposal")
    positions = [position for _id, position in column]
    assert len(set(positions)) == len(positions), column
    # The second move read its neighbours after the first committed: it sits right below P2.
    assert [id_ for id_, _ in column] == [
        deals["P2"],
        deals["Q1"],
        deals["Q0"],
        deals["P1"],
        deals["P0"],
    ]
    assert [id_ for id_, _ in _column(app, board, "Qualification")] == [deals["Q2"]]
    with app.app_context():
        set_tenant(board["org"], board["user"])
        totals = pipeline_board.column_totals(pipeline_board.Filters())
        assert totals[stages["Proposal"]][0] == 5
        assert totals[stages["Qualification"]][0] == 1
        history = db.session.execute(
            db.text(
                "SELECT count(*) FROM opportunity_stage_history WHERE to_stage_id = :s"
                " AND from_stage_id IS NOT NULL"
            ),
            {"s": stages["Proposal"]},
        ).scalar_one()
        assert history == 2
        clear_tenant()
        db.session.remove()


def test_crossing_moves_do_not_deadlock(app, board, database_url):
    deals, stages = board["deals"], board["stages"]
    _run_concurrently(
        app,
        board,
        database_url,
        {"opportunity_id": deals["Q0"], "stage_id": stages["Proposal"], "after_id": deals["P0"]},
        {
            "opportunity_id": deals["P2"],
            "stage_id": stages["Qualification"],
            "after_id": deals["Q0"],
        },
    )
    # Only the target columns are locked, so the second move read Qualification before the
    # first committed, still saw Q0 at its bottom and put P2 there (then waited for the
    # stage totals row the first held). Either way the order is whole and positions unique.
    qualification = _column(app, board, "Qualification")
    assert [id_ for id_, _ in qualification] == [deals["Q2"], deals["Q1"], deals["P2"]]
    assert len({position for _, position in qualification}) == 3
    assert [id_ for id_, _ in _column(app, board, "Proposal")] == [
        deals["P1"],
        deals["P0"],
        deals["Q0"],
    ]


def test_two_moves_of_the_same_card(app, board, database_url):
    deals, stages = board["deals"], board["stages"]
    _run_concurrently(
        app,
        board,
        database_url,
        {"opportunity_id": deals["Q0"], "stage_id": stages["Proposal"]},
        {"opportunity_id": deals["Q0"], "stage_id": stages["Negotiation"]},
    )
    # The second waited for the first and then moved the card on: no lost update, no 404.
    assert deals["Q0"] in [id_ for id_, _ in _column(app, board, "Negotiation")]
    assert deals["Q0"] not in [id_ for id_, _ in _column(app, board, "Proposal")]
    with app.app_context():
        set_tenant(board["org"], board["user"])
        moves = db.session.execute(
            db.text(
                "SELECT from_stage_id, to_stage_id FROM opportunity_stage_history"
                " WHERE opportunity_id = :id ORDER BY id"
            ),
            {"id": deals["Q0"]},
        ).all()
        assert [tuple(move) for move in moves] == [
            (None, stages["Qualification"]),
            (stages["Qualification"], stages["Proposal"]),
            (stages["Proposal"], stages["Negotiation"]),
        ]
        totals = pipeline_board.column_totals(pipeline_board.Filters())
        assert (totals[stages["Proposal"]][0], totals[stages["Negotiation"]][0]) == (3, 1)
        clear_tenant()
        db.session.remove()


def test_a_move_waiting_for_a_column_being_respaced_holds_none_of_its_cards(
    app, board, database_url
):
    deals, stages = board["deals"], board["stages"]
    proposal = stages["Proposal"]

    def respace_and_commit():
        # A window wide enough to take in every card of the column.
        ordering._respace(proposal, around=0)
        db.session.commit()

    # What a move into a full gap does: lock the column, then respace (lock) its cards; the
    # reorder of one of those cards starts in between.
    _race(
        app,
        board,
        database_url,
        hold=lambda: pipeline_stages.lock_stage(proposal),
        finish=respace_and_commit,
        second=lambda: opportunities.move_opportunity(
            opportunity_id=deals["P0"], stage_id=proposal
        ),
    )
    # Had the reorder locked its card before the column, the respacing would have waited
    # for it while it waited for the column: a deadlock, one of the two aborted.
    column = _column(app, board, "Proposal")
    assert [id_ for id_, _ in column] == [deals["P0"], deals["P2"], deals["P1"]]
    assert len({position for _, position in column}) == 3


def test_a_deadlock_victim_runs_again(app, board, database_url):
    """Two transactions lock the same two stage totals rows in opposite orders: PostgreSQL
    aborts one of them, and a service marked to retry runs it again instead of failing."""
    stages, errors, attempts = board["stages"], [], []
    both_hold_one = threading.Barrier(2, timeout=10)

    def lock(stage_id: int) -> None:
        db.session.execute(
            db.text("SELECT 1 FROM pipeline_stage_totals WHERE stage_id = :s FOR UPDATE"),
            {"s": stage_id},
        )

    @atomic(retry=True)
    def lock_both(first: str, second: str) -> None:
        attempts.append(first)
        lock(stages[first])
        if attempts.count(first) == 1:
            both_hold_one.wait()
        lock(stages[second])

    threads = [
        _thread(app, board, errors, lambda: lock_both("Qualification", "Proposal")),
        _thread(app, board, errors, lambda: lock_both("Proposal", "Qualification")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    # The victim ran again (on a loaded machine its retry may itself time out and run a third
    # time); the survivor ran once.
    assert sorted(attempts.count(name) for name in ("Qualification", "Proposal"))[0] == 1
    assert len(attempts) >= 3, attempts
