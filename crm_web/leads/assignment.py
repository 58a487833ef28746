"""Who works a lead: sales teams, assignment rules (seed 001) and the assignment history.

Rules are tried by priority; the first whose conditions match the lead and that finds an
eligible person wins. A rule targets one user or a team; within a team it picks round-robin or
the member with the fewest open leads, among members with the rule's skills and under its cap.
Choosing locks the team (or the rule) row, so concurrent captures take turns and stay fair.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, literal, select

from crm_web.accounts.models import User
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import NotFound, check_fields, invalid
from crm_web.extensions import db
from crm_web.leads.models import (
    ASSIGNMENT_METHODS,
    OPEN_STATUSES,
    AssignmentRule,
    Lead,
    LeadAssignment,
    Team,
    TeamMember,
)

CONDITION_FIELDS = ("sources", "industries", "countries", "cities")


def _words(values: list[str] | str) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    return sorted({value.strip().lower() for value in values if value and value.strip()})


def active_users() -> list[User]:
    """The organization's active users, by name (for pickers)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.organization_id == current_organization_id(), User.is_active)
            .order_by(func.lower(User.name))
        )
    )


def active_user(user_id: int, field: str) -> User:
    """The active user with this id in the organization, or a ValidationError on `field`."""
    user = db.session.scalar(
        select(User).where(
            User.id == user_id, User.organization_id == current_organization_id(), User.is_active
        )
    )
    if user is None:
        raise invalid({field: _("No such user.")})
    return user


# Teams


def list_teams() -> list[Team]:
    return list(
        db.session.scalars(
            select(Team)
            .where(Team.organization_id == current_organization_id())
            .order_by(func.lower(Team.name))
        )
    )


def team_members() -> dict[int, list[User]]:
    """Each team's members, by name, from one query."""
    rows = db.session.execute(
        select(TeamMember.team_id, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.organization_id == current_organization_id())
        .order_by(func.lower(User.name))
    ).all()
    members: dict[int, list[User]] = {}
    for team_id, user in rows:
        members.setdefault(team_id, []).append(user)
    return members


def get_team(team_id: int) -> Team:
    team = db.session.scalar(
        select(Team).where(Team.id == team_id, Team.organization_id == current_organization_id())
    )
    if team is None:
        raise NotFound(_("No such team."))
    return team


def _check_team(name: str, member_ids: list[int], team_id: int | None = None) -> str:
    name = name.strip()
    errors = {}
    if not name:
        errors["name"] = _("Name the team.")
    elif len(name) > 100:
        errors["name"] = _("Keep the name under 100 characters.")
    elif db.session.scalar(
        select(Team.id).where(
            Team.organization_id == current_organization_id(),
            Team.name == name,
            Team.id != (team_id or 0),
        )
    ):
        errors["name"] = _("A team with this name exists.")
    known = set(
        db.session.scalars(
            select(User.id).where(
                User.organization_id == current_organization_id(), User.id.in_(member_ids)
            )
        )
    )
    if set(member_ids) - known:
        errors["member_ids"] = _("Choose members from your organization.")
    check_fields(errors)
    return name


def _set_members(team: Team, member_ids: list[int]) -> None:
    current = set(
        db.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id))
    )
    wanted = set(member_ids)
    for member in db.session.scalars(
        select(TeamMember).where(
            TeamMember.team_id == team.id, TeamMember.user_id.in_(current - wanted)
        )
    ):
        db.session.delete(member)
    db.session.add_all(
        TeamMember(organization_id=team.organization_id, team_id=team.id, user_id=user_id)
        for user_id in sorted(wanted - current)
    )


@atomic
def create_team(*, name: str, member_ids: list[int]) -> Team:
    """A sales team with these members."""
    team = Team(organization_id=current_organization_id(), name=_check_team(name, member_ids))
    db.session.add(team)
    db.session.flush()
    _set_members(team, member_ids)
    return team


@atomic
def update_team(team_id: int, *, name: str, member_ids: list[int]) -> Team:
    """Rename a team and set its members."""
    team = get_team(team_id)
    team.name = _check_team(name, member_ids, team_id)
    _set_members(team, member_ids)
    return team


@atomic
def delete_team(team_id: int) -> None:
    """Remove a team; rules that routed to it go with it."""
    team = get_team(team_id)
    db.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    for rule in db.session.scalars(select(AssignmentRule).where(AssignmentRule.team_id == team.id)):
        db.session.delete(rule)
    db.session.delete(team)


# Rules


def list_rules() -> list[AssignmentRule]:
    return list(
        db.session.scalars(
            select(AssignmentRule)
            .where(AssignmentRule.organization_id == current_organization_id())
            .order_by(AssignmentRule.priority, AssignmentRule.id)
        )
    )


def get_rule(rule_id: int) -> AssignmentRule:
    rule = db.session.scalar(
        select(AssignmentRule).where(
            AssignmentRule.id == rule_id,
            AssignmentRule.organization_id == current_organization_id(),
        )
    )
    if rule is None:
        raise NotFound(_("No such assignment rule."))
    return rule


def _check_rule(
    *,
    name: str,
    priority,
    user_id: int | None,
    team_id: int | None,
    method: str,
    sources="",
    industries="",
    countries="",
    cities="",
    required_skills="",
    max_open_leads=None,
    is_active: bool = True,
) -> dict:
    errors = {}
    name = name.strip()
    if not name:
        errors["name"] = _("Name the rule.")
    elif len(name) > 100:
        errors["name"] = _("Keep the name under 100 characters.")
    try:
        priority = int(priority)
        if not 0 <= priority <= 10_000:
            raise ValueError
    except (TypeError, ValueError):
        errors["priority"] = _("Give a whole number from 0 to 10000 (lower runs first).")
    if bool(user_id) == bool(team_id):
        errors["target"] = _("Route to one user or one team.")
    if method not in ASSIGNMENT_METHODS:
        errors["method"] = _("Choose round robin or fewest open leads.")
    if max_open_leads in ("", None):
        max_open_leads = None
    else:
        try:
            max_open_leads = int(max_open_leads)
            if max_open_leads <= 0:
                raise ValueError
        except (TypeError, ValueError):
            errors["max_open_leads"] = _("Give a positive number, or leave it empty for no cap.")
    check_fields(errors)
    if user_id:
        active_user(user_id, "target")
    else:
        get_team(team_id)
    return {
        "name": name,
        "priority": priority,
        "user_id": user_id or None,
        "team_id": team_id or None,
        "method": method,
        "sources": _words(sources),
        "industries": _words(industries),
        "countries": _words(countries),
        "cities": _words(cities),
        "required_skills": _words(required_skills),
        "max_open_leads": max_open_leads,
        "is_active": bool(is_active),
    }


@atomic
def create_rule(**values) -> AssignmentRule:
    """An assignment rule; lower priority numbers are tried first."""
    rule = AssignmentRule(organization_id=current_organization_id(), **_check_rule(**values))
    db.session.add(rule)
    db.session.flush()
    return rule


@atomic
def update_rule(rule_id: int, **values) -> AssignmentRule:
    rule = get_rule(rule_id)
    for key, value in _check_rule(**values).items():
        setattr(rule, key, value)
    return rule


@atomic
def delete_rule(rule_id: int) -> None:
    db.session.delete(get_rule(rule_id))


# Routing


def matches(rule: AssignmentRule, lead: Lead) -> bool:
    """Whether the lead meets every condition of the rule (an empty condition matches anything)."""
    return all(
        not allowed or value.strip().lower() in allowed
        for allowed, value in (
            (rule.sources, lead.source),
            (rule.industries, lead.industry),
            (rule.countries, lead.country),
            (rule.cities, lead.city),
        )
    )


def open_lead_counts(user_ids: list[int]) -> dict[int, int]:
    """Open leads per user, from the partial index on open leads."""
    counts = dict.fromkeys(user_ids, 0)
    if user_ids:
        counts.update(
            db.session.execute(
                select(Lead.assigned_to_id, func.count())
                .where(
                    Lead.organization_id == current_organization_id(),
                    Lead.assigned_to_id.in_(user_ids),
                    Lead.status.in_(OPEN_STATUSES),
                )
                .group_by(Lead.assigned_to_id)
            ).all()
        )
    return counts


def _pick(
    rule: AssignmentRule, members: list[int], counts: dict[int, int], last: int
) -> int | None:
    """Whom the rule picks among its candidates (by id), given their open leads and whom its
    team picked last; None when everyone is at the rule's cap."""
    cap = rule.max_open_leads
    eligible = [m for m in members if not cap or counts[m] < cap]
    if not eligible:
        return None
    rotation = [m for m in eligible if m > last] + [m for m in eligible if m <= last]
    # min() keeps the first of equals, so ties in workload also rotate.
    return rotation[0] if rule.method == "round_robin" else min(rotation, key=counts.get)


def _candidates(rule: AssignmentRule) -> Select:
    """The active users a team rule may pick (members with its skills), by id."""
    return (
        select(User.id)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(
            TeamMember.team_id == rule.team_id,
            User.is_active,
            User.skills.contains(rule.required_skills),
        )
        .order_by(User.id)
    )


def _choose(rule: AssignmentRule) -> int | None:
    """The user this rule gives its next lead to, or None when nobody is eligible."""
    if rule.user_id:
        # Locking the rule serialises concurrent captures against its workload cap.
        db.session.execute(
            select(AssignmentRule.id).where(AssignmentRule.id == rule.id).with_for_update()
        )
        user = db.session.get(User, rule.user_id)
        if user is None or not user.is_active:
            return None
        counts = open_lead_counts([user.id]) if rule.max_open_leads else {user.id: 0}
        return _pick(rule, [user.id], counts, 0)
    # The lock makes concurrent captures take turns; populate_existing rereads the rotation.
    team = db.session.scalar(
        select(Team)
        .where(Team.id == rule.team_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if rule.method == "least_loaded" or rule.max_open_leads:
        # Each member's open leads: a count(*) per member, an index-only scan of the partial index.
        workload = (
            select(func.count())
            .where(
                Lead.organization_id == team.organization_id,
                Lead.assigned_to_id == User.id,
                Lead.status.in_(OPEN_STATUSES),
            )
            .scalar_subquery()
        )
    else:
        workload = literal(0)
    rows = db.session.execute(_candidates(rule).add_columns(workload)).all()
    chosen = _pick(
        rule, [user_id for user_id, _ in rows], dict(rows), team.last_assigned_user_id or 0
    )
    if chosen is not None:
        team.last_assigned_user_id = chosen
    return chosen


def record_assignment(
    lead: Lead, user_id: int | None, *, method: str, rule: AssignmentRule | None = None, note=""
) -> LeadAssignment:
    """Give the lead to `user_id` and keep who had it, who decided and why."""
    entry = LeadAssignment(
        organization_id=lead.organization_id,
        lead_id=lead.id,
        user_id=user_id,
        previous_user_id=lead.assigned_to_id,
        rule_id=rule.id if rule else None,
        method=method,
        note=note[:200],
        assigned_by_id=current_tenant().user_id,
    )
    db.session.add(entry)
    lead.assigned_to_id = user_id
    lead.assigned_at = datetime.now(UTC) if user_id else None
    return entry


def _active_rules() -> list[AssignmentRule]:
    return list(
        db.session.scalars(
            select(AssignmentRule)
            .where(
                AssignmentRule.organization_id == current_organization_id(),
                AssignmentRule.is_active,
            )
            .order_by(AssignmentRule.priority, AssignmentRule.id)
        )
    )


def apply_rules(lead: Lead) -> AssignmentRule | None:
    """Assign the lead by the first rule that matches and finds someone; the rule, or None."""
    for rule in _active_rules():
        if not matches(rule, lead):
            continue
        user_id = _choose(rule)
        if user_id is not None:
            record_assignment(lead, user_id, method=rule.method, rule=rule, note=rule.name)
            return rule
    return None


@dataclass(frozen=True)
class Route:
    """Where a lead goes by the rules, and why (for its assignment history)."""

    user_id: int
    rule_id: int
    method: str
    note: str


def route_many(leads: list) -> list[Route | None]:
    """Where each of these new open leads goes by the rules (None: nobody), in order, as if
    they were captured one after another: each counts towards its assignee's workload and
    moves its team's rotation on. The rules' teams and users are locked, and candidates and
    workloads read, once for all of them. A lead here is anything with source, industry,
    country and city."""
    rules = _active_rules()
    if not rules or not leads:
        return [None] * len(leads)
    # Locked in one order (teams, then rules, by id), so two imports cannot deadlock.
    teams = {
        team.id: team
        for team in db.session.scalars(
            select(Team)
            .where(Team.id.in_({rule.team_id for rule in rules if rule.team_id}))
            .order_by(Team.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    user_rules = [rule for rule in rules if rule.user_id]
    db.session.execute(
        select(AssignmentRule.id)
        .where(AssignmentRule.id.in_([rule.id for rule in user_rules]))
        .order_by(AssignmentRule.id)
        .with_for_update()
    )
    active = set(
        db.session.scalars(
            select(User.id).where(
                User.id.in_([rule.user_id for rule in user_rules]), User.is_active
            )
        )
    )
    members = {
        rule.id: ([rule.user_id] if rule.user_id in active else [])
        if rule.user_id
        else list(db.session.scalars(_candidates(rule)))
        for rule in rules
    }
    counts = open_lead_counts(sorted({user for users in members.values() for user in users}))
    last = {team.id: team.last_assigned_user_id or 0 for team in teams.values()}
    routes: list[Route | None] = []
    for lead in leads:
        route = None
        for rule in rules:
            if not matches(rule, lead):
                continue
            chosen = _pick(rule, members[rule.id], counts, last.get(rule.team_id, 0))
            if chosen is not None:
                counts[chosen] += 1
                if rule.team_id:
                    last[rule.team_id] = chosen
                route = Route(chosen, rule.id, rule.method, rule.name)
                break
        routes.append(route)
    for team in teams.values():
        if last[team.id] and last[team.id] != team.last_assigned_user_id:
            team.last_assigned_user_id = last[team.id]
    return routes


def history(lead_id: int) -> list[LeadAssignment]:
    """A lead's assignments, newest first."""
    return list(
        db.session.scalars(
            select(LeadAssignment)
            .where(
                LeadAssignment.organization_id == current_organization_id(),
                LeadAssignment.lead_id == lead_id,
            )
            .order_by(LeadAssignment.id.desc())
        )
    )
