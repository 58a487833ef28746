"""The import pages' forms: upload, encoding, column mapping, and the go-ahead."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import FieldList, RadioField, SelectChoice, SelectField

from crm_web.formatting import any_of
from crm_web.imports.csvfile import CHOOSABLE_ENCODINGS, ENCODING_LABELS
from crm_web.imports.targets import ImportTarget


def dedupe_choices(target: ImportTarget) -> list[SelectChoice]:
    """The duplicate handling choices, naming the fields that identify this kind of record."""
    keys = any_of([str(label) for _name, label in target.dedupe_keys])
    return [
        SelectChoice(
            "skip", _("Skip rows that match an existing record (by %(fields)s)", fields=keys)
        ),
        SelectChoice("update", _("Update the matching record with the file's values")),
        SelectChoice("create", _("Create a new record for every row, even if it matches")),
    ]


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file to upload."))])


class EncodingForm(FlaskForm):
    encoding = SelectField(
        _l("Read the file as"),
        choices=[SelectChoice(name, ENCODING_LABELS[name]) for name in CHOOSABLE_ENCODINGS],
    )


class MappingForm(FlaskForm):
    """One choice of target field per column of the file, and what to do with duplicates."""

    columns = FieldList(SelectField(choices=[], validate_choice=False))
    dedupe_mode = RadioField(_l("When a row matches an existing record"), choices=[])

    @classmethod
    def for_job(cls, job, target: ImportTarget, formdata=None) -> "MappingForm":
        form = cls(
            formdata=formdata,
            data={"columns": list(job.mapping), "dedupe_mode": job.dedupe_mode},
        )
        form.dedupe_mode.choices = dedupe_choices(target)
        choices = [SelectChoice("", _("— leave out —"))]
        choices += [SelectChoice(f.name, f.label_on_form) for f in target.fields]
        # The file decides how many columns there are, not the request.
        while len(form.columns) < len(job.headers):
            form.columns.append_entry("")
        while len(form.columns) > len(job.headers):
            form.columns.pop_entry()
        for entry, header in zip(form.columns, job.headers, strict=True):
            entry.choices = choices
            entry.label.text = header
        return form


class ConfirmForm(FlaskForm):
    """Just the CSRF token: starting the import is a state change."""
