"""CSV import of leads: the lead's own checks, dedupe, routing by the assignment rules and
scoring as for any captured lead, atomicity, reading any file, tenancy.

The runs call the worker's entry (services.run_import_job) in the test's transaction, as
test_customer_import.py does; the pages and the actor are in test_lead_import_flow.py.
"""

from decimal import Decimal

import import_helpers
import pytest
from import_helpers import check, run, upload_dir  # noqa: F401
from sqlalchemy import func, select
from test_customer_import import refuse_inserts

from crm_web.db import set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.imports import services
from crm_web.imports.models import ImportReject
from crm_web.leads import assignment
from crm_web.leads import services as leads
from crm_web.leads.models import Lead, LeadAssignment, Team
from crm_web.privacy.models import AuditEntry

HEADER = ["Ad", "Soyad", "Şirket", "E-posta", "Telefon", "Ülke", "Kaynak", "Bütçe", "Yetki"]


def csv_bytes(rows, header=HEADER, delimiter=",", encoding="utf-8") -> bytes:
    return import_helpers.csv_bytes(rows, header, delimiter, encoding)


@pytest.fixture
def org(make_org):
    return import_helpers.importer(make_org, "Lead Importer")


upload = import_helpers.uploader("leads", "leads.csv")


def imported(data: bytes, mode="skip"):
    job = run(check(upload(data), mode=mode))
    assert job.status == "imported", job.message
    return job


def all_leads(organization_id: int) -> list[Lead]:
    return list(
        db.session.scalars(
            select(Lead)
            .where(Lead.organization_id == organization_id)
            .order_by(Lead.id)
            .execution_options(populate_existing=True)
        )
    )


def rejects(job) -> dict[int, tuple[str, str]]:
    return {
        reject.row_number: (reject.outcome, reject.reason)
        for reject in db.session.scalars(select(ImportReject).where(ImportReject.job_id == job.id))
    }


def test_a_good_file_makes_leads_numbered_scored_and_routed_like_captured_ones(org, make_user):
    organization, admin = org
    reps = [make_user(organization, role="sales", name=f"Rep {i}") for i in range(2)]
    set_tenant(organization.id, admin.id)
    team = assignment.create_team(name="Inside", member_ids=[rep.id for rep in reps])
    assignment.create_rule(
        name="Everyone", priority=1, user_id=None, team_id=team.id, method="round_robin"
    )
    data = csv_bytes(
        [
            [
                "Ayşe",
                "Yılmaz",
                "Acme",
                "Ayse@Acme.example",
                "0532 123 45 67",
                "tr",
                "Referans",
                "150000",
                "Karar verici",
            ],
            ["John", "Smith", "", "john@example.co.uk", "", "GB", "Web form", "", ""],
            ["Can", "Öz", "", "can@example.com", "", "", "trade show", "1,500.50", "influencer"],
        ]
    )
    job = upload(data)
    assert job.mapping == [
        "first_name",
        "last_name",
        "company",
        "email",
        "phone",
        "country",
        "source",
        "budget",
        "authority",
    ]
    job = check(job)
    assert job.status == "checked", job.message
    assert (job.report["create"], job.report["reject"]) == (3, 0)
    assert all_leads(organization.id) == []  # a dry run writes nothing

    job = run(job)
    assert job.report["created"] == 3
    ayse, john, can = all_leads(organization.id)
    assert (ayse.email, ayse.phone, ayse.country, ayse.source) == (
        "ayse@acme.example",
        "+905321234567",
        "TR",
        "referral",
    )
    assert (ayse.budget, ayse.authority, ayse.status, ayse.captured_via) == (
        Decimal("150000.00"),
        "decision_maker",
        "new",
        "import",
    )
    assert (john.source, john.authority, john.budget) == ("web_form", "unknown", None)
    assert (can.source, can.budget, can.authority) == (
        "trade_show",
        Decimal("1500.50"),
        "influencer",
    )
    assert [lead.lead_number for lead in (ayse, john, can)] == [
        "LEAD-000001",
        "LEAD-000002",
        "LEAD-000003",
    ]
    # Scored exactly as a capture scores: the same lead captured by hand gets the same score.
    by_hand = leads.create_lead(
        first_name="Ayşe",
        last_name="Yılmaz",
        company="Acme",
        email="ayse2@acme.example",
        phone="0532 123 45 67",
        country="TR",
        source="referral",
        budget="150000",
        authority="decision_maker",
        assigned_to_id=admin.id,
    )
    assert ayse.lead_score == by_hand.lead_score > 0
    assert ayse.score_breakdown == by_hand.score_breakdown
    assert ayse.recommended_action == by_hand.recommended_action and ayse.scored_at
    # Routed round-robin by the rule, in file order, and the team's turn moved on.
    assert [lead.assigned_to_id for lead in (ayse, john, can)] == [
        reps[0].id,
        reps[1].id,
        reps[0].id,
    ]
    assert db.session.get(Team, team.id).last_assigned_user_id == reps[0].id
    history = db.session.scalars(
        select(LeadAssignment).where(LeadAssignment.lead_id.in_([ayse.id, john.id, can.id]))
    ).all()
    assert sorted((h.lead_id, h.user_id, h.method, h.note, h.assigned_by_id) for h in history) == [
        (ayse.id, reps[0].id, "round_robin", "Everyone", admin.id),
        (john.id, reps[1].id, "round_robin", "Everyone", admin.id),
        (can.id, reps[0].id, "round_robin", "Everyone", admin.id),
    ]
    # Every assignment is audited; the new leads have their summary entry.
    audited = db.session.scalars(
        select(AuditEntry.row_id).where(AuditEntry.table_name == "lead_assignments")
    ).all()
    assert {str(h.id) for h in history} <= set(audited)
    summary = db.session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "leads", AuditEntry.action == "create")
    ).all()
    assert [(a.row_id, a.new_values) for a in summary if a.new_values.get("import_job")] == [
        ("LEAD-000001..LEAD-000003", {"import_job": job.id, "leads": 3})
    ]


def test_routing_a_file_is_the_same_as_capturing_its_leads_one_by_one(org, make_user):
    """Workload caps and least-loaded choice, skills and rule conditions, over a file, give
    what one capture after another gives."""
    organization, admin = org
    reps = [
        make_user(organization, role="sales", skills="turkish" if i < 2 else "") for i in range(3)
    ]
    set_tenant(organization.id, admin.id)
    team = assignment.create_team(name="All", member_ids=[rep.id for rep in reps])
    assignment.create_rule(
        name="Turkey",
        priority=1,
        user_id=None,
        team_id=team.id,
        method="least_loaded",
        countries="TR",
        required_skills="turkish",
        max_open_leads=3,
    )
    assignment.create_rule(
        name="Partners",
        priority=2,
        user_id=reps[2].id,
        team_id=None,
        method="round_robin",
        sources="partner",
        max_open_leads=2,
    )
    # Someone already works one lead.
    leads.create_lead(
        first_name="Old", last_name="Lead", email="old@example.com", assigned_to_id=reps[0].id
    )
    turn = db.session.get(Team, team.id).last_assigned_user_id
    rows = [
        [
            f"N{i}",
            "X",
            "",
            f"n{i}@example.com",
            "",
            "TR" if i % 3 else "GB",
            "partner" if i % 3 == 0 else "other",
            "",
            "",
        ]
        for i in range(12)
    ]
    imported(csv_bytes(rows))
    got = [
        (lead.email, lead.assigned_to_id)
        for lead in all_leads(organization.id)
        if lead.email != "old@example.com"
    ]
    # Now the same leads captured one by one, from the situation before the import.
    db.session.execute(
        Lead.__table__.delete().where(
            Lead.organization_id == organization.id, Lead.email != "old@example.com"
        )
    )
    db.session.get(Team, team.id).last_assigned_user_id = turn
    db.session.flush()
    expected = []
    for first, last, _company, email, _phone, country, source, *_ in rows:
        lead = leads.create_lead(
            first_name=first, last_name=last, email=email, country=country, source=source
        )
        expected.append((lead.email, lead.assigned_to_id))
    assert got == expected
    # The caps held: three Turkish leads at most each, two partner leads.
    assert sum(1 for _, user in got if user == reps[2].id) == 2
    assert sum(1 for _, user in got if user is None) > 0


def test_bad_rows_are_reported_with_row_number_and_the_lead_rules(org):
    organization, _ = org
    job = check(
        upload(
            csv_bytes(
                [
                    ["Ok", "Lead", "", "ok@example.com", "", "", "", "", ""],
                    ["Bad", "Email", "", "not-an-email", "", "", "", "", ""],
                    ["", "Nofirst", "", "nofirst@example.com", "", "", "", "", ""],
                    ["No", "Contact", "", "", "", "", "", "", ""],
                    ["Bad", "Phone", "", "", "12", "TR", "", "", ""],
                    ["Bad", "Source", "", "src@example.com", "", "", "fax", "", ""],
                    ["Bad", "Budget", "", "budget@example.com", "", "", "", "-5", "boss"],
                    ["Bad", "Country", "", "c@example.com", "", "XX", "", "", ""],
                    ["Short", "Row"],
                ]
            )
        )
    )
    assert (job.report["create"], job.report["reject"]) == (1, 8)
    reasons = {row: reason for row, (_outcome, reason) in rejects(job).items()}
    assert reasons[3].startswith("Email: ")
    assert reasons[4] == "First name: This field is required."
    assert reasons[5] == "Email: Give an email address or a phone number."
    assert reasons[6] == f"Phone: {leads.PHONE_ERROR}"
    assert reasons[7].startswith("Source: Use one of: web_form, social_media")
    assert reasons[8] == (
        "Budget: Enter an amount between 0 and 9,999,999,999,999.99. "
        "Authority: Use one of: unknown, decision_maker, influencer, evaluator, end_user."
    )
    assert reasons[9] == "Country: Use a two-letter country code such as TR or GB."
    assert reasons[10] == "This row has 2 fields; the header has 9."
    job = run(job)
    assert [lead.email for lead in all_leads(organization.id)] == ["ok@example.com"]


def test_status_reason_and_owner_of_new_leads(org, make_user):
    organization, admin = org
    rep = make_user(organization, role="sales", email="rep@example.com")
    set_tenant(organization.id, admin.id)
    header = ["First name", "Last name", "Email", "Status", "Reason", "Assigned to", "Timeline"]
    job = check(
        upload(
            csv_bytes(
                [
                    [
                        "A",
                        "Qualified",
                        "a@example.com",
                        "Nitelikli",
                        "",
                        "REP@example.com",
                        "1-3 ay",
                    ],
                    ["B", "Out", "b@example.com", "disqualified", "No budget", "", ""],
                    ["C", "Out", "c@example.com", "disqualified", "", "", ""],
                    ["D", "Done", "d@example.com", "converted", "", "", ""],
                    ["E", "Nobody", "e@example.com", "", "", "ghost@example.com", ""],
                    ["F", "New", "f@example.com", "", "Stray reason", "", "someday"],
                ],
                header=header,
            )
        )
    )
    assert job.mapping == [
        "first_name",
        "last_name",
        "email",
        "status",
        "disqualified_reason",
        "assigned_to_id",
        "timeline",
    ]
    reasons = {row: reason for row, (_outcome, reason) in rejects(job).items()}
    assert reasons == {
        4: "Disqualification reason (new leads): Give the reason for disqualifying.",
        5: "Status (new leads): A lead is converted from its page; import it as qualified.",
        6: "Assigned to (new leads): No active user of this organization has this email.",
        7: "Timeline: Use one of: immediate, 1-3 months, 3-6 months, 6-12 months, 12+ months.",
    }
    job = run(job)
    qualified, out = all_leads(organization.id)
    assert (qualified.status, qualified.timeline, qualified.assigned_to_id) == (
        "qualified",
        "1-3 months",
        rep.id,
    )
    assert (out.status, out.disqualified_reason, out.assigned_to_id) == (
        "disqualified",
        "No budget",
        None,
    )
    [chosen] = db.session.scalars(
        select(LeadAssignment).where(LeadAssignment.lead_id == qualified.id)
    ).all()
    assert (chosen.method, chosen.note) == ("manual", f"Chosen in import #{job.id}")


def test_dedupe_skip_update_create(org):
    organization, admin = org
    imported(csv_bytes([["Ayşe", "Yılmaz", "", "ayse@example.com", "", "", "", "", ""]]))
    [ayse] = all_leads(organization.id)
    score_before = ayse.lead_score
    rows = [
        [
            "Ayşe",
            "Demir",
            "Big Co",
            "AYSE@example.com",
            "+90 532 000 00 01",
            "TR",
            "partner",
            "250000",
            "decision_maker",
        ],
        ["Mehmet", "Kaya", "", "mehmet@example.com", "+90 532 000 00 02", "", "", "", ""],
        ["Memo", "Kaya", "", "mehmet@example.com", "", "", "", "", ""],  # same email as row 3
        ["M.", "Kaya", "", "other@example.com", "+90 532 000 00 02", "", "", "", ""],  # same phone
    ]
    data = csv_bytes(rows)

    skipped = check(upload(data), mode="skip")
    assert {k: skipped.report[k] for k in ("create", "skip", "duplicate")} == {
        "create": 1,
        "skip": 1,
        "duplicate": 2,
    }
    found = rejects(skipped)
    assert found[2] == ("skip", f"Already exists as {ayse.lead_number} (skipped).")
    assert found[4] == ("duplicate", "Same email as row 3.")
    assert found[5] == ("duplicate", "Same phone as row 3.")

    updated = imported(data, mode="update")
    assert (updated.report["updated"], updated.report["created"]) == (1, 1)
    ayse = all_leads(organization.id)[0]
    assert (ayse.last_name, ayse.company, ayse.phone, ayse.source, ayse.budget) == (
        "Demir",
        "Big Co",
        "+905320000001",
        "partner",
        Decimal("250000.00"),
    )
    # Rescored with its new values, and the change audited with the old and new values.
    assert ayse.lead_score > score_before
    change = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "leads",
            AuditEntry.action == "update",
            AuditEntry.row_id == str(ayse.id),
        )
    ).one()
    assert change.old_values["last_name"] == "Yılmaz" and change.new_values["last_name"] == "Demir"
    assert "first_name" not in change.new_values

    # Matched by phone now too: a lead with that number is found.
    by_phone = check(
        upload(csv_bytes([["X", "Y", "", "", "+905320000001", "", "", "", ""]])), mode="skip"
    )
    assert rejects(by_phone)[2] == ("skip", f"Already exists as {ayse.lead_number} (skipped).")

    created = imported(data, mode="create")
    assert created.report["created"] == 4
    assert len(all_leads(organization.id)) == 2 + 4


def test_update_mode_leaves_converted_leads_and_the_workflow_alone(org):
    organization, _ = org
    imported(
        csv_bytes(
            [
                ["Conv", "Erted", "", "conv@example.com", "", "", "", "", ""],
                ["Still", "Open", "", "open@example.com", "", "", "", "", ""],
            ]
        )
    )
    converted, still_open = all_leads(organization.id)
    leads.change_status(converted.id, "qualified")
    leads.convert_lead(converted.id)
    data = csv_bytes(
        [["conv@example.com", "Changed", "disqualified"], ["open@example.com", "Changed", "new"]],
        header=["Email", "Company", "Status"],
    )
    job = imported(data, mode="update")
    assert (job.report["update"], job.report["skip"], job.report["updated"]) == (1, 1, 1)
    assert rejects(job) == {2: ("skip", leads.CONVERTED)}
    converted, still_open = all_leads(organization.id)
    assert (converted.company, converted.status) == ("", "converted")
    # The status column starts new leads only: a lead that exists keeps its place in the workflow.
    assert (still_open.company, still_open.status) == ("Changed", "new")
    # Rows without names update what exists, and are rejected where nothing matches.
    job = imported(
        csv_bytes(
            [["open@example.com", "Again"], ["nobody@example.com", "New"]],
            header=["Email", "Company"],
        ),
        mode="update",
    )
    assert (job.report["updated"], job.report["reject"]) == (1, 1)
    assert rejects(job)[3] == (
        "reject",
        "First name: This field is required. Last name: This field is required. "
        "No existing record matches it.",
    )


def test_a_failure_at_the_end_leaves_nothing_not_even_the_routing(org, make_user):
    organization, admin = org
    rep = make_user(organization, role="sales")
    set_tenant(organization.id, admin.id)
    assignment.create_rule(
        name="Rep", priority=1, user_id=rep.id, team_id=None, method="round_robin"
    )
    imported(csv_bytes([["Ali", "Veli", "", "ali@example.com", "", "", "", "", ""]]))
    [ali] = all_leads(organization.id)
    assignments = db.session.scalar(select(func.count()).select_from(LeadAssignment))
    # Fails at the very end: the summary entry for the new leads comes after the updates,
    # the inserts, the routing and its audit entries.
    refuse_inserts("audit_log", "NEW.table_name = 'leads' AND NEW.action = 'create'")
    rows = [["Ali", "Changed", "", "ali@example.com", "", "", "", "", ""]]
    rows += [[f"New{i}", "Lead", "", f"new{i}@example.com", "", "", "", "", ""] for i in range(20)]
    job = check(upload(csv_bytes(rows)), mode="update")
    assert (job.report["update"], job.report["create"]) == (1, 20)
    with pytest.raises(Exception, match="disk full"):
        run(job)
    job = services.get_import(job.id)
    assert job.status == "failed" and job.message.endswith("nothing was imported.")
    assert [lead.id for lead in all_leads(organization.id)] == [ali.id]
    assert all_leads(organization.id)[0].last_name == "Veli"
    assert db.session.scalar(select(func.count()).select_from(LeadAssignment)) == assignments
    updates = select(func.count()).where(
        AuditEntry.table_name == "leads", AuditEntry.action == "update"
    )
    assert db.session.scalar(updates) == 0


def test_encodings_delimiters_and_bom(org):
    rows = [["Şükrü", "Öztürk", "Çiçek A.Ş.", "sukru@example.com", "", "TR", "", "", ""]]
    for data, encoding, delimiter in [
        (csv_bytes(rows, encoding="utf-8-sig"), "utf-8-sig", ","),
        (csv_bytes(rows, delimiter=";", encoding="utf-16"), "utf-16", ";"),
        (csv_bytes(rows, delimiter="\t", encoding="cp1254"), "cp1254", "\t"),
    ]:
        job = upload(data)
        assert (job.encoding, job.delimiter, job.headers) == (encoding, delimiter, HEADER)
        assert job.sample == rows
        checked = check(job, mode="create")
        assert checked.report["create"] == 1, checked.message
    organization, _ = org
    job = run(checked)
    [lead] = all_leads(organization.id)
    assert (lead.first_name, lead.company) == ("Şükrü", "Çiçek A.Ş.")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbfAd,Soyad,E-posta\r\n", "The file has a header row but no rows under it."),
    ],
)
def test_an_empty_file_is_refused_and_stores_nothing(org, data, message):
    with pytest.raises(ValidationError) as error:
        upload(data)
    assert error.value.message.startswith(message)
    assert services.recent_imports("leads") == []


def test_mappings_that_cannot_make_leads_are_refused(org):
    job = upload(csv_bytes([["A", "B", "", "a@example.com", "", "", "", "", ""]]))
    with pytest.raises(ValidationError, match="Map Email or Phone"):
        services.check_import(job.id, ["first_name", "last_name", *[""] * 7], "skip")
    with pytest.raises(ValidationError, match="First name and Last name"):
        services.check_import(job.id, ["first_name", "", "", "email", *[""] * 5], "skip")
    # Updating existing leads needs no names.
    services.check_import(job.id, ["", "", "", "email", *[""] * 5], "update")


def test_another_organization_is_neither_matched_nor_touched(org, make_org):
    organization, admin = org
    other, other_admin = make_org("Other Leads")
    set_tenant(other.id, other_admin.id)
    imported(csv_bytes([["Their", "Lead", "", "same@example.com", "", "", "", "", ""]]))
    [theirs] = all_leads(other.id)
    set_tenant(organization.id, admin.id)
    job = imported(
        csv_bytes([["Our", "Lead", "", "same@example.com", "", "", "", "", ""]]), mode="update"
    )
    assert (job.report["created"], job.report["updated"]) == (1, 0)
    [ours] = all_leads(organization.id)
    assert ours.lead_number == "LEAD-000001" and ours.first_name == "Our"
    set_tenant(other.id, other_admin.id)
    assert all_leads(other.id)[0].first_name == theirs.first_name == "Their"
    with pytest.raises(Exception, match="No such import"):
        services.get_import(job.id)
