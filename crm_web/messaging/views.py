"""Dev mailbox and dev SMS: each registered only when the run command started its local
stand-in (DEV_MAILBOX_DIR for the SMTP sink, DEV_SMS_DIR for the SMS gateway)."""

import io
from pathlib import Path

from flask import Blueprint, abort, current_app, send_file

from crm_web.messaging.devmail import read_attachment, read_mailbox
from crm_web.messaging.devsms import read_messages
from crm_web.permissions import requires
from crm_web.rendering import render

bp = Blueprint("messaging", __name__)
devsms_bp = Blueprint("devsms", __name__)


@bp.route("/dev/mail")
@requires("view system")
def dev_mailbox():
    mails = read_mailbox(Path(current_app.config["DEV_MAILBOX_DIR"]))
    return render("messaging/devmail.html", block="mails", mails=mails)


@bp.route("/dev/mail/<name>/attachments/<int:index>")
@requires("view system")
def dev_mail_attachment(name: str, index: int):
    """An attachment of a received message (a quote's PDF), to open as the customer would."""
    found = read_attachment(Path(current_app.config["DEV_MAILBOX_DIR"]), name, index)
    if found is None:
        abort(404)
    attachment, content = found
    return send_file(
        io.BytesIO(content),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
    )


@devsms_bp.route("/dev/sms")
@requires("view system")
def dev_sms():
    messages = read_messages(Path(current_app.config["DEV_SMS_DIR"]))
    return render("messaging/devsms.html", block="messages", messages=messages)
