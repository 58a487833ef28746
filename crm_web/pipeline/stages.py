"""The pipeline's stages: lookups, a new organization's defaults, and their configuration."""

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, text

from crm_web import i18n
from crm_web.db import atomic, current_organization_id
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.pipeline.amounts import parse_amount
from crm_web.pipeline.models import (
    DEFAULT_STAGES,
    Opportunity,
    PipelineStage,
    SalesSettings,
    StageChange,
)
from crm_web.privacy.audit import record

DEFAULT_QUOTE_APPROVAL_THRESHOLD = Decimal("10000")


def set_up_organization(organization_id: int) -> None:
    """Give a new organization seed 003's stages, named in its language, and default sales
    settings."""
    with i18n.organization_language(organization_id):
        db.session.add_all(
            PipelineStage(
                organization_id=organization_id,
                name=str(name),
                position=index,
                probability=probability,
                outcome=outcome,
            )
            for index, (name, probability, outcome) in enumerate(DEFAULT_STAGES, start=1)
        )
    db.session.add(
        SalesSettings(
            organization_id=organization_id,
            quote_approval_threshold=DEFAULT_QUOTE_APPROVAL_THRESHOLD,
            default_tax_rate=Decimal("0"),
        )
    )
    db.session.flush()


def list_stages() -> list[PipelineStage]:
    """The organization's stages in board order."""
    return list(
        db.session.scalars(
            select(PipelineStage)
            .where(PipelineStage.organization_id == current_organization_id())
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )


def get_stage(stage_id: int) -> PipelineStage:
    """A stage of the current organization, or NotFound."""
    stage = db.session.scalar(
        select(PipelineStage).where(
            PipelineStage.id == stage_id,
            PipelineStage.organization_id == current_organization_id(),
        )
    )
    if stage is None:
        raise NotFound(_("No such pipeline stage."))
    return stage


def lock_stage(stage_id: int) -> PipelineStage:
    """The stage, locked (FOR NO KEY UPDATE) before its column's cards change, or NotFound."""
    stage = db.session.scalar(
        select(PipelineStage)
        .where(
            PipelineStage.id == stage_id,
            PipelineStage.organization_id == current_organization_id(),
        )
        .with_for_update(key_share=True, of=PipelineStage)
        .execution_options(populate_existing=True)
    )
    if stage is None:
        raise NotFound(_("No such pipeline stage."))
    return stage


def _stage_values(name: str, probability) -> tuple[str, Decimal]:
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Give the stage a name.")
    elif len(name) > 60:
        errors["name"] = _("Keep the name under 60 characters.")
    try:
        probability = parse_amount(probability, "probability")
    except ValidationError as exc:
        errors.update(exc.fields)
    else:
        if probability > 100:
            errors["probability"] = _("Enter a percentage from 0 to 100.")
    check_fields(errors)
    return name, probability


def _check_name_free(name: str, stage_id: int | None = None) -> None:
    taken = db.session.scalar(
        select(PipelineStage.id).where(
            PipelineStage.organization_id == current_organization_id(),
            func.lower(PipelineStage.name) == name.lower(),
            PipelineStage.id != (stage_id or 0),
        )
    )
    if taken is not None:
        raise invalid({"name": _("Another stage has this name.")})


def _reorder_stages(moved: PipelineStage, position: int | None) -> None:
    stages = [stage for stage in list_stages() if stage.id != moved.id]
    index = len(stages) if position is None else max(0, min(position - 1, len(stages)))
    stages.insert(index, moved)
    for number, stage in enumerate(stages, start=1):
        stage.position = number


@atomic
def add_stage(*, name: str, probability, position: int | None = None) -> PipelineStage:
    """A new open stage, at `position` (1 = first) or before the closing stages."""
    name, probability = _stage_values(name, probability)
    _check_name_free(name)
    stage = PipelineStage(
        organization_id=current_organization_id(),
        name=name,
        probability=probability,
        outcome="open",
        position=0,
    )
    db.session.add(stage)
    if position is None:
        open_stages = [s for s in list_stages() if s.outcome == "open"]
        position = len(open_stages) + 1
    _reorder_stages(stage, position)
    db.session.flush()
    return stage


@atomic
def update_stage(stage_id: int, *, name: str, probability, position: int | None = None):
    """Rename, reweight or move a stage; its open deals take the new probability."""
    stage = lock_stage(stage_id)
    name, probability = _stage_values(name, probability)
    _check_name_free(name, stage.id)
    if (stage.outcome == "won" and probability != 100) or (stage.outcome == "lost" and probability):
        raise invalid({"probability": _("A won stage is 100% and a lost stage 0%.")})
    changed = probability != stage.probability
    stage.name = name
    stage.probability = probability
    if position is not None:
        _reorder_stages(stage, position)
    db.session.flush()
    if changed:
        result = db.session.execute(
            text(
                "UPDATE opportunities SET probability = :p, updated_at = now() "
                "WHERE organization_id = :org AND stage_id = :stage"
            ),
            {"p": probability, "org": current_organization_id(), "stage": stage.id},
        )
        record(
            db.session,
            organization_id=stage.organization_id,
            action="update",
            table_name="opportunities",
            row_id=f"stage {stage.id}",
            new={"probability": probability, "rows": result.rowcount},
        )
    return stage


@atomic
def delete_stage(stage_id: int) -> None:
    """Remove an open stage that no deal is in and none has passed through."""
    stage = lock_stage(stage_id)
    if stage.outcome != "open":
        raise Conflict(_("The won and lost stages cannot be removed."))
    used = db.session.scalar(
        select(func.count()).where(
            Opportunity.organization_id == stage.organization_id, Opportunity.stage_id == stage.id
        )
    ) or db.session.scalar(
        select(func.count()).where(
            StageChange.organization_id == stage.organization_id,
            StageChange.to_stage_id == stage.id,
        )
    )
    if used:
        raise Conflict(_("Deals are in this stage or have passed through it; rename it instead."))
    if sum(1 for s in list_stages() if s.outcome == "open") <= 1:
        raise Conflict(_("The pipeline needs at least one open stage."))
    db.session.delete(stage)
    db.session.flush()
    for number, remaining in enumerate(list_stages(), start=1):
        remaining.position = number
    db.session.flush()
