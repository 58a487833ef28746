"""The import pages, for every target: upload -> column mapping -> dry run -> import -> result."""

import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from crm_web.forms import form_status, submit
from crm_web.imports import services
from crm_web.imports.csvfile import DELIMITERS, ENCODING_LABELS
from crm_web.imports.forms import ConfirmForm, EncodingForm, MappingForm, UploadForm
from crm_web.imports.targets import ImportTarget, get_target
from crm_web.permissions import can
from crm_web.rendering import redirect_to, render

bp = Blueprint("imports", __name__)

NEW_PAGE = "imports/new.html"
JOB_PAGE = "imports/job.html"


def _allowed(target: ImportTarget) -> ImportTarget:
    # The capability depends on what is imported, so the check is here rather than a decorator.
    if not can(target.capability):
        abort(403)
    return target


def _job(job_id: int):
    job = services.get_import(job_id)
    return job, _allowed(get_target(job.target))


@bp.route("/imports/<target>/new", methods=["GET", "POST"])
def new(target: str):
    target = _allowed(get_target(target))
    form = UploadForm()
    if created := submit(
        form,
        lambda: services.create_import(
            target.name, form.file.data.filename or "", form.file.data.stream
        ),
    ):
        return redirect_to(url_for("imports.show", job_id=created.value.id))
    return _upload_page(target, form, form_status(form))


def _upload_page(target: ImportTarget, form: UploadForm, status: int):
    return render(
        NEW_PAGE,
        block="upload",
        status=status,
        form=form,
        target=target,
        jobs=services.recent_imports(target.name),
        max_mb=services.max_bytes() // (1024 * 1024),
    )


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc):
    """An upload past the request limit is cut off before any view runs; say so on the form."""
    name = (request.view_args or {}).get("target")
    if request.endpoint != "imports.new" or not name:
        return exc
    form = UploadForm(formdata=None)
    request_limit = current_app.config["MAX_CONTENT_LENGTH"] or services.max_bytes()
    form.file.errors = [services.too_large_message(min(request_limit, services.max_bytes()))]
    return _upload_page(_allowed(get_target(name)), form, 413)


def _job_page(job, target, mapping_form=None, encoding_form=None, status=None):
    rejects = services.rejects_page(job.id) if job.report else None
    return render(
        JOB_PAGE,
        block="job",
        status=status or 200,
        job=job,
        target=target,
        mapping_form=mapping_form or MappingForm.for_job(job, target, formdata=None),
        encoding_form=encoding_form or EncodingForm(formdata=None, encoding=job.encoding),
        confirm_form=ConfirmForm(),
        rejects=rejects,
        encoding_label=ENCODING_LABELS.get(job.encoding, job.encoding),
        delimiter_label=DELIMITERS.get(job.delimiter, job.delimiter),
        fields={f.name: f.label for f in target.fields},
    )


@bp.route("/imports/<int:job_id>")
def show(job_id: int):
    job, target = _job(job_id)
    return _job_page(job, target)


@bp.route("/imports/<int:job_id>/check", methods=["POST"])
def check(job_id: int):
    job, target = _job(job_id)
    form = MappingForm.for_job(job, target, formdata=request.form)
    if submit(
        form, lambda: services.check_import(job.id, list(form.columns.data), form.dedupe_mode.data)
    ):
        return redirect_to(url_for("imports.show", job_id=job.id))
    return _job_page(job, target, mapping_form=form, status=form_status(form))


@bp.route("/imports/<int:job_id>/encoding", methods=["POST"])
def encoding(job_id: int):
    job, target = _job(job_id)
    form = EncodingForm()
    if submit(form, lambda: services.change_encoding(job.id, form.encoding.data)):
        return redirect_to(url_for("imports.show", job_id=job.id))
    return _job_page(job, target, encoding_form=form, status=form_status(form))


@bp.route("/imports/<int:job_id>/run", methods=["POST"])
def run(job_id: int):
    job, _target = _job(job_id)
    if ConfirmForm().validate_on_submit():
        services.start_import(job.id)
    return redirect_to(url_for("imports.show", job_id=job.id))


@bp.route("/imports/<int:job_id>/rejects")
def rejects(job_id: int):
    """More rows of the rejects table (keyset "load more")."""
    job, target = _job(job_id)
    page = services.rejects_page(job.id, cursor=request.args.get("cursor") or None)
    return render(JOB_PAGE, block="reject_rows", job=job, target=target, rejects=page)


@bp.route("/imports/<int:job_id>/rejects.csv")
def rejects_csv(job_id: int):
    job, _target = _job(job_id)
    stem = re.sub(r"[^\w.-]+", "_", job.filename.rsplit(".", 1)[0], flags=re.ASCII) or "import"
    return Response(
        stream_with_context(services.rejects_csv(job.id)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{stem}-rejects.csv"'},
    )
