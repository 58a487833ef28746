"""Logging calls, meetings, emails and SMS by hand, from the customer 360 page."""

from flask import Blueprint

from crm_web.communications.forms import CommunicationForm
from crm_web.communications.services import log_communication
from crm_web.customer360.views import render_fragment
from crm_web.customers.services import get_customer
from crm_web.forms import form_status, submit
from crm_web.permissions import requires

bp = Blueprint("communications", __name__)


@bp.route("/customers/<int:customer_id>/communications", methods=["POST"])
@requires("log communications")
def log(customer_id: int):
    customer = get_customer(customer_id)
    form = CommunicationForm()
    minutes = form.duration_minutes.data
    if logged := submit(
        form,
        lambda: log_communication(
            customer.id,
            communication_type=form.communication_type.data,
            direction=form.direction.data,
            subject=form.subject.data or "",
            content=form.content.data or "",
            outcome=form.outcome.data or "",
            duration_seconds=None if minutes is None else minutes * 60,
        ),
    ):
        return render_fragment(
            customer,
            "communication_form",
            changed=True,
            communication_form=CommunicationForm(formdata=None),
            logged=logged.value,
        )
    return render_fragment(
        customer, "communication_form", status=form_status(form), communication_form=form
    )
