"""Catalog pages: the product list (search, filters, low stock), a product with its stock
ledger, new and edit product, stock received and corrected, categories, the whole ledger."""

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from crm_web.catalog import products, stock
from crm_web.catalog.forms import CategoryForm, ProductForm, StockForm
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render

bp = Blueprint("catalog", __name__)


def _category_choices(blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank)] + [
        SelectChoice(str(c.id), c.name) for c in products.list_categories()
    ]


@bp.route("/products")
@requires("view catalog")
def index():
    filters = products.ProductFilters.from_args(request.args)
    cursor = request.args.get("cursor")
    page = products.search_products(filters, cursor=cursor)
    return render(
        "catalog/products.html",
        block="rows" if cursor else "results",
        page=page,
        filters=filters,
        next_url=url_for(".index", cursor=page.next_cursor, **filters.to_args()),
        categories=products.list_categories(),
        low_stock=products.low_stock_count(),
    )


@bp.route("/products/movements")
@requires("view catalog")
def movements():
    cursor = request.args.get("cursor")
    page = stock.movements(cursor=cursor)
    return render(
        "catalog/movements.html",
        block="rows" if cursor else "content",
        page=page,
        next_url=url_for(".movements", cursor=page.next_cursor),
    )


def _form_page(form: ProductForm, product=None):
    return render(
        "catalog/product_form.html",
        block="form",
        status=form_status(form),
        form=form,
        product=product,
    )


@bp.route("/products/new", methods=["GET", "POST"])
@requires("manage catalog")
def new():
    form = ProductForm()
    form.category_id.choices = _category_choices(_("No category"))
    if created := submit(form, lambda: products.create_product(form.values())):
        flash(_("Product %(sku)s is saved.", sku=created.value.sku), "success")
        return redirect_to(url_for(".show", product_id=created.value.id))
    return _form_page(form)


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@requires("manage catalog")
def edit(product_id: int):
    product = products.get_product(product_id)
    form = ProductForm(obj=product)
    del form.stock_on_hand
    form.category_id.choices = _category_choices(_("No category"))
    if request.method == "GET":
        form.category_id.data = str(product.category_id or "")
    if submit(form, lambda: products.update_product(product_id, form.values())):
        flash(_("Product %(sku)s is saved.", sku=product.sku), "success")
        return redirect_to(url_for(".show", product_id=product_id))
    return _form_page(form, product)


def _product_page(product, *, block="content", status=200, stock_form=None):
    cursor = request.args.get("cursor")
    page = stock.movements(product.id, cursor=cursor)
    return render(
        "catalog/product.html",
        block="movement_rows" if cursor else block,
        status=status,
        product=product,
        page=page,
        next_url=url_for(".show", product_id=product.id, cursor=page.next_cursor),
        stock_form=stock_form or StockForm(formdata=None),
    )


@bp.route("/products/<int:product_id>")
@requires("view catalog")
def show(product_id: int):
    return _product_page(products.get_product(product_id))


@bp.route("/products/<int:product_id>/stock", methods=["POST"])
@requires("adjust stock")
def change_stock(product_id: int):
    product = products.get_product(product_id)
    form = StockForm()
    moved = submit(
        form,
        lambda: products.change_stock(
            product_id, kind=form.kind.data, quantity=form.quantity.data, reason=form.reason.data
        ),
    )
    if moved and not is_htmx():
        return redirect_to(url_for(".show", product_id=product_id))
    if moved:
        form = None
    return _product_page(
        products.get_product(product.id),
        block="stock",
        status=form_status(form) if form else 200,
        stock_form=form,
    )


# Categories


def _categories_page(form=None, status: int = 200, *, editing=None, edit_form=None):
    """The categories; `editing` is a category whose rename was refused, shown with `edit_form`."""
    return render(
        "catalog/categories.html",
        block="categories",
        status=status,
        categories=products.list_categories(),
        form=form or CategoryForm(formdata=None),
        editing=editing,
        edit_form=edit_form,
    )


@bp.route("/products/categories")
@requires("view catalog")
def categories():
    return _categories_page()


@bp.route("/products/categories", methods=["POST"])
@requires("manage catalog")
def add_category():
    form = CategoryForm()
    if submit(form, lambda: products.create_category(form.name.data, form.description.data)):
        if not is_htmx():
            return redirect_to(url_for(".categories"))
        return _categories_page()
    return _categories_page(form, form_status(form))


@bp.route("/products/categories/<int:category_id>", methods=["POST"])
@requires("manage catalog")
def rename_category(category_id: int):
    products.get_category(category_id)
    form = CategoryForm(prefix=f"c{category_id}")
    if submit(
        form,
        lambda: products.rename_category(category_id, form.name.data, form.description.data),
    ):
        if not is_htmx():
            return redirect_to(url_for(".categories"))
        return _categories_page()
    return _categories_page(status=form_status(form), editing=category_id, edit_form=form)


@bp.route("/products/categories/<int:category_id>/delete", methods=["POST"])
@requires("manage catalog")
def delete_category(category_id: int):
    products.delete_category(category_id)
    return redirect_to(url_for(".categories")) if not is_htmx() else _categories_page()
