"""The customer list (/customers: search, filters, sort, infinite scroll, bulk actions) and the
create, edit and merge pages."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from crm_web.accounts.services import list_users
from crm_web.customers import services
from crm_web.customers.forms import BulkForm, CustomerForm, MergeForm
from crm_web.customers.models import CUSTOMER_TYPES, LIFECYCLE_STAGES
from crm_web.customers.services import CustomerFilters, DuplicateCustomer
from crm_web.errors import ValidationError
from crm_web.forms import form_status, submit
from crm_web.inputs import as_id
from crm_web.permissions import can, requires
from crm_web.rendering import is_htmx, redirect_to, render

bp = Blueprint("customers", __name__)

LIST_PAGE = "customers/index.html"
FORM_PAGE = "customers/form.html"
MERGE_PAGE = "customers/merge.html"
# The list offers bulk actions to whoever may use at least one of them.
BULK_CAPABILITIES = tuple(capability for _label, capability in services.BULK_ACTIONS.values())


def _list_response(filters: CustomerFilters, cursor: str | None = None, notice: str = ""):
    """The list page, its results block (a new search) or its rows block (the next page)."""
    page = services.list_customers(filters, cursor=cursor)
    next_url = (
        url_for("customers.index", cursor=page.next_cursor, **filters.to_args())
        if page.next_cursor
        else None
    )
    context = {}
    if not is_htmx():
        # Only the full page has the filter and bulk forms, which list the team.
        users = list_users()
        context = {
            "users": users,
            "bulk_form": BulkForm(users=users, formdata=None),
            "customer_types": CUSTOMER_TYPES,
            "lifecycle_stages": LIFECYCLE_STAGES,
            "sorts": services.SORT_LABELS,
        }
    response = render(
        LIST_PAGE,
        block="rows" if cursor else "results",
        page=page,
        next_url=next_url,
        filters=filters,
        can_bulk=can(*BULK_CAPABILITIES),
        notice=notice,
        **context,
    )
    if is_htmx() and not cursor:
        # The address bar shows the canonical URL of what is on screen (defaults left out).
        response.headers["HX-Push-Url"] = url_for("customers.index", **filters.to_args())
    return response


@bp.route("/customers")
@requires("view customers")
def index():
    filters = CustomerFilters.from_args(request.args)
    return _list_response(filters, cursor=request.args.get("cursor") or None)


@bp.route("/customers/count")
@requires("view customers")
def count():
    """The "N customers match" line, fetched after the rows so typing never waits for it."""
    filters = CustomerFilters.from_args(request.args)
    if not is_htmx():
        return redirect(url_for("customers.index", **filters.to_args()))
    return render(
        LIST_PAGE,
        block="count",
        count=services.count_customers(filters),
        count_cap=services.COUNT_CAP,
        filters=filters,
        can_bulk=can(*BULK_CAPABILITIES),
    )


@bp.route("/customers/bulk", methods=["POST"])
@requires(*BULK_CAPABILITIES)
def bulk():
    form = BulkForm(users=list_users())
    filters = CustomerFilters.from_args(request.form)
    if not form.validate():
        raise ValidationError(
            _("Please correct the bulk action."),
            {name: errors[0] for name, errors in form.errors.items()},
        )
    all_matching = request.form.get("all_matching") == "1"
    changed = services.bulk_update(
        form.action.data,
        acting_user=current_user,
        ids=None if all_matching else request.form.getlist("ids"),
        filters=filters if all_matching else None,
        value=form.bulk_owner.data if form.action.data == "assign_owner" else form.bulk_tag.data,
    )
    label = services.BULK_ACTIONS[form.action.data][0]
    notice = ngettext(
        "%(action)s: %(num)s customer changed.",
        "%(action)s: %(num)s customers changed.",
        changed,
        action=label,
    )
    if not is_htmx():
        flash(notice, "success")
        return redirect_to(url_for("customers.index", **filters.to_args()))
    return _list_response(filters, notice=notice)


def _form_page(form, customer=None, duplicates=(), status=None):
    return render(
        FORM_PAGE,
        block="form",
        status=status or form_status(form),
        form=form,
        customer=customer,
        duplicates=duplicates,
    )


def _save(duplicates: list, save, *args, **kwargs):
    """Call the service `save`; the customers a DuplicateCustomer names go to `duplicates`, for
    the form shown again to list."""
    try:
        return save(*args, **kwargs)
    except DuplicateCustomer as exc:
        duplicates.extend(exc.duplicates)
        raise


@bp.route("/customers/new", methods=["GET", "POST"])
@requires("edit customers")
def new():
    form = CustomerForm(users=list_users())
    if request.method == "GET":
        form.owner_id.data = str(current_user.id)
    duplicates = []
    merge_with = request.form.get("merge_with", type=as_id)
    if merge_with and not can("merge customers"):
        merge_with = None
    if created := submit(
        form,
        lambda: _save(
            duplicates,
            services.create_customer,
            form.values(),
            allow_duplicate=request.form.get("save_anyway") == "1" or bool(merge_with),
        ),
    ):
        customer = created.value
        flash(
            _(
                "%(name)s (%(code)s) is saved.",
                name=customer.display_name,
                code=customer.customer_code,
            ),
            "success",
        )
        if merge_with:
            return redirect_to(
                url_for("customers.merge", customer_id=merge_with, other=customer.id)
            )
        return redirect_to(url_for("customer360.show", customer_id=customer.id))
    return _form_page(form, duplicates=duplicates)


@bp.route("/customers/<int:customer_id>/edit", methods=["GET", "POST"])
@requires("edit customers")
def edit(customer_id: int):
    customer = services.get_customer(customer_id)
    form = CustomerForm(users=list_users())
    if request.method == "GET":
        form.load(services.editable_values(customer))
    duplicates = []
    if submit(
        form,
        lambda: _save(
            duplicates,
            services.update_customer,
            customer.id,
            form.values(),
            allow_duplicate=request.form.get("save_anyway") == "1",
        ),
    ):
        flash(_("%(name)s is saved.", name=customer.display_name), "success")
        return redirect_to(url_for("customer360.show", customer_id=customer.id))
    return _form_page(form, customer=customer, duplicates=duplicates)


@bp.route("/customers/<int:customer_id>/merge", methods=["GET", "POST"])
@requires("merge customers")
def merge(customer_id: int):
    customer = services.get_customer(customer_id)
    form = MergeForm()
    other_id = request.values.get("other", type=as_id)
    if other_id == customer.id:
        raise ValidationError(_("Choose another customer to merge with."))
    other = services.get_customer(other_id) if other_id else None
    if other is not None and form.validate_on_submit():
        winner, loser = (other, customer) if form.keep.data == "other" else (customer, other)
        loser_name = f"{loser.display_name} ({loser.customer_code})"
        merged = services.merge_customers(winner.id, loser.id)
        flash(
            _("%(other)s is merged into %(name)s.", other=loser_name, name=merged.display_name),
            "success",
        )
        return redirect_to(url_for("customer360.show", customer_id=merged.id))
    q = request.args.get("q", "").strip()
    candidates = []
    if q and other is None:
        found = services.search_customers(CustomerFilters(q=q, is_active=None), limit=11)
        candidates = [c for c in found.items if c.id != customer.id][:10]
    form.other.data = other.id if other else ""
    return render(
        MERGE_PAGE,
        block="candidates" if request.args.get("q") is not None and is_htmx() else "content",
        customer=customer,
        other=other,
        candidates=candidates,
        q=q,
        form=form,
        owners={user.id: user for user in list_users()},
    )
