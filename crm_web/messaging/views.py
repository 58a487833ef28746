"""Dev mailbox: registered only when the run command's SMTP sink is on (DEV_MAILBOX_DIR)."""

from pathlib import Path

from flask import Blueprint, current_app

from crm_web.messaging.devmail import read_mailbox
from crm_web.rendering import render
from crm_web.security import roles_required

bp = Blueprint("messaging", __name__)


@bp.route("/dev/mail")
@roles_required("admin")
def dev_mailbox():
    mails = read_mailbox(Path(current_app.config["DEV_MAILBOX_DIR"]))
    return render("messaging/devmail.html", block="mails", mails=mails)
