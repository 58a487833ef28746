"""/api/v1/crm/customers/: list (keyset, ?q= and the list's filters), create, read, update.

Field names are seed 001's Customer fields, plus owner, lifecycle, tags, address and consent.
"""

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user

from crm_web.customers import services
from crm_web.customers.models import Customer
from crm_web.customers.services import CustomerFilters
from crm_web.customers.validation import EDITABLE_FIELDS
from crm_web.errors import PermissionDenied, ValidationError
from crm_web.inputs import query_int

bp = Blueprint("customers", __name__)

WRITE_ROLES = ("admin", "manager", "sales", "support")
FIELDS = (
    "id",
    "customer_code",
    "customer_type",
    "title",
    "first_name",
    "last_name",
    "company_name",
    "tax_number",
    "tax_office",
    "identity_number",
    "birth_date",
    "gender",
    "primary_email",
    "secondary_email",
    "primary_phone",
    "secondary_phone",
    "website",
    "industry",
    "company_size",
    "annual_revenue",
    "lead_source",
    "customer_since",
    "is_active",
    "owner_id",
    "lifecycle_stage",
    "tags",
    "address",
    "city",
    "country",
    "timezone",
    "email_opt_in",
    "sms_opt_in",
    "do_not_contact",
    "created_at",
    "updated_at",
)


def customer_json(customer: Customer) -> dict:
    """A customer as the API shows it (dates ISO 8601, amounts as decimal strings)."""
    data = {}
    for name in FIELDS:
        value = getattr(customer, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif name == "annual_revenue" and value is not None:
            value = str(value)
        data[name] = value
    return data


def _body() -> tuple[dict, bool]:
    """The JSON object sent, and its allow_duplicate flag (taken out)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("Send a JSON object.", {"body": "Expected a JSON object."})
    body = dict(body)
    allow_duplicate = body.pop("allow_duplicate", False) is True
    return body, allow_duplicate


def _check_write_role() -> None:
    if not current_user.has_role(*WRITE_ROLES):
        raise PermissionDenied("Your role cannot change customers.")


@bp.route("/crm/customers/", methods=["GET"])
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
        {
            "results": [customer_json(customer) for customer in page.items],
            "next_cursor": page.next_cursor,
            "next": next_url,
        }
    )


@bp.route("/crm/customers/", methods=["POST"])
def create_customer():
    """A new customer; 422 with fields on bad input, 409 when the email or phone is taken
    (send "allow_duplicate": true to create it anyway)."""
    _check_write_role()
    body, allow_duplicate = _body()
    unknown = sorted(set(body) - set(EDITABLE_FIELDS) - {"owner_id"})
    if unknown:
        raise ValidationError(
            "Unknown or read-only fields.", {name: "This field cannot be set." for name in unknown}
        )
    customer = services.create_customer(body, source="api", allow_duplicate=allow_duplicate)
    response = jsonify(customer_json(customer))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_customer", customer_id=customer.id)
    return response


@bp.route("/crm/customers/<int:customer_id>/", methods=["GET"])
def get_customer(customer_id: int):
    return jsonify(customer_json(services.get_customer(customer_id)))


@bp.route("/crm/customers/<int:customer_id>/", methods=["PUT"])
def update_customer(customer_id: int):
    """Change the fields sent (the others keep their values); 422 with fields on bad input."""
    _check_write_role()
    body, allow_duplicate = _body()
    customer = services.update_customer(
        customer_id, body, source="api", allow_duplicate=allow_duplicate
    )
    return jsonify(customer_json(customer))
