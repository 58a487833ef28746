"""/api/v1/crm/customers/: list (keyset, ?q= and the list's filters), create, read, update.

Field names are seed 001's Customer fields, plus owner, lifecycle, tags, address and consent.
"""

from decimal import Decimal

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.customers import services
from crm_web.customers.fields import NAMES
from crm_web.customers.models import Customer
from crm_web.customers.services import CustomerFilters
from crm_web.errors import ValidationError
from crm_web.inputs import json_object, query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("customers", __name__)

# The answer to a role that may read customers but not change them.
CANNOT_CHANGE = _l("Your role cannot change customers.")
FIELDS = ("id", "customer_code", *NAMES, "created_at", "updated_at")


def customer_json(customer: Customer) -> dict:
    """A customer as the API shows it (dates ISO 8601, amounts as decimal strings)."""
    data = {}
    for name in FIELDS:
        value = getattr(customer, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        data[name] = value
    return data


def _body() -> tuple[dict, bool]:
    """The JSON object sent, and its allow_duplicate flag (taken out)."""
    body = dict(json_object())
    allow_duplicate = body.pop("allow_duplicate", False) is True
    return body, allow_duplicate


@bp.route("/crm/customers/", methods=["GET"])
@requires("view customers")
def list_customers():
    """Customers, newest first unless ?sort=; ?cursor= for the next page, ?limit= up to 200."""
    filters = CustomerFilters.from_args(request.args)
    limit = query_int("limit", 50)
    page = services.search_customers(filters, cursor=request.args.get("cursor"), limit=limit)
    next_url = None
    if page.next_cursor:
        args = {**filters.to_args(), "cursor": page.next_cursor}
        if limit != 50:
            args["limit"] = limit
        next_url = url_for(".list_customers", **args)
    return jsonify(
        list_json(
            [customer_json(customer) for customer in page.items], page.next_cursor, next=next_url
        )
    )


@bp.route("/crm/customers/", methods=["POST"])
@requires("edit customers", message=CANNOT_CHANGE)
def create_customer():
    """A new customer; 422 with fields on bad input, 409 when the email or phone is taken
    (send "allow_duplicate": true to create it anyway)."""
    body, allow_duplicate = _body()
    unknown = sorted(set(body) - set(NAMES))
    if unknown:
        raise ValidationError(
            _("Unknown or read-only fields."),
            {name: _("This field cannot be set.") for name in unknown},
        )
    customer = services.create_customer(body, source="api", allow_duplicate=allow_duplicate)
    response = jsonify(customer_json(customer))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_customer", customer_id=customer.id)
    return response


@bp.route("/crm/customers/<int:customer_id>/", methods=["GET"])
@requires("view customers")
def get_customer(customer_id: int):
    return jsonify(customer_json(services.get_customer(customer_id)))


@bp.route("/crm/customers/<int:customer_id>/", methods=["PUT"])
@requires("edit customers", message=CANNOT_CHANGE)
def update_customer(customer_id: int):
    """Change the fields sent (the others keep their values); 422 with fields on bad input."""
    body, allow_duplicate = _body()
    customer = services.update_customer(
        customer_id, body, source="api", allow_duplicate=allow_duplicate
    )
    return jsonify(customer_json(customer))
