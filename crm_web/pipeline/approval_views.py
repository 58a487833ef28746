"""The approvals inbox: managers approve waiting quotes, or send them back, from one list."""

from flask import Blueprint, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm_web.errors import NotFound
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.pipeline import approvals, quotes
from crm_web.pipeline.forms import ReviewForm
from crm_web.rendering import render, render_blocks, wanted_fragment

bp = Blueprint("approvals", __name__)


def review_form(quote_id: int) -> ReviewForm:
    """The decision form of one row; prefixed, as every row of the page carries one."""
    return ReviewForm(prefix=f"quote-{quote_id}")


@bp.route("/approvals")
@requires("approve quotes")
def inbox():
    page = approvals.pending_quotes(cursor=request.args.get("cursor"))
    return render(
        "pipeline/approvals.html",
        block="rows" if wanted_fragment("rows") else "content",
        page=page,
        review_form=review_form,
        more_url=page.next_cursor
        and url_for("approvals.inbox", cursor=page.next_cursor, fragment="rows"),
    )


@bp.route("/approvals/<int:quote_id>/<any(approve, 'send-back'):decision>", methods=["POST"])
@requires("approve quotes")
def decide(quote_id: int, decision: str):
    """Approve a waiting quote or send it back to draft (with a note): the row shows the
    outcome in place, the navigation's count follows out of band."""
    form = review_form(quote_id)
    approve = decision == "approve"
    decided = submit(
        form,
        lambda: quotes.review_quote(
            quote_id, acting_user=current_user, approve=approve, note=form.note.data or ""
        ),
    )
    quote = approvals.inbox_quote(quote_id)
    if quote is None:
        raise NotFound(_("No such quote."))
    return render_blocks(
        "pipeline/approvals.html",
        "row",
        "count",
        status=200 if decided else form_status(form),
        quote=quote,
        decided=decided.value if decided else None,
        outcome=(_("Approved") if approve else _("Sent back to draft")) if decided else "",
        quote_id=quote_id,
        review_form=lambda _quote_id: form,
        pending_count=approvals.pending_count(),
    )
