"""Sign-in, sign-up, user management and API token forms."""

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from crm_web import labels
from crm_web.i18n import LANGUAGE_NAMES
from crm_web.limits import LIST_MAX

ROLE_CHOICES = [SelectChoice(*choice) for choice in labels.choices(labels.ROLE)]


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class SignupForm(FlaskForm):
    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=200)])
    slug = StringField(_l("Organization address"), validators=[DataRequired(), Length(max=63)])
    timezone = SelectField(_l("Time zone"), default="UTC")
    currency = StringField(
        _l("Currency"), default="USD", validators=[DataRequired(), Length(min=3, max=3)]
    )
    admin_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    admin_email = EmailField(
        _l("Your email"), validators=[DataRequired(), Email(), Length(max=254)]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = sorted(available_timezones())


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="sales")
    department = StringField(_l("Department"), validators=[Length(max=100)])
    skills = StringField(_l("Skills (comma separated)"), validators=[Length(max=LIST_MAX)])


class UserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    department = StringField(_l("Department"), validators=[Length(max=100)])
    skills = StringField(_l("Skills (comma separated)"), validators=[Length(max=LIST_MAX)])
    is_active = BooleanField(_l("Active"))


class ChoosePasswordForm(FlaskForm):
    """Finishing a sign-up or an invitation; the service applies the password policy."""

    password = PasswordField(_l("Choose a password"), validators=[DataRequired()])


class CompanyForm(FlaskForm):
    """The company details printed on quotes; the service checks them (crm_web.accounts.company)."""

    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    address = TextAreaField(_l("Address"), validators=[Length(max=1000)])
    phone = StringField(_l("Phone"), validators=[Length(max=60)])
    email = StringField(_l("Email"), validators=[Length(max=300)])
    tax_office = StringField(_l("Tax office"), validators=[Length(max=200)])
    tax_number = StringField(_l("Tax number"), validators=[Length(max=60)])


class ApiTokenForm(FlaskForm):
    """A new API token; the service checks the name and the expiry, and says which is wrong."""

    name = StringField(_l("Name"))
    expires_on = DateField(_l("Expires on (optional)"), validators=[Optional()])


def _timezone_choices(blank: str | None = None) -> list:
    zones = [SelectChoice(name, name) for name in sorted(available_timezones())]
    return ([SelectChoice("", blank)] if blank else []) + zones


def _language_choices(blank: str | None = None) -> list:
    languages = [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    return ([SelectChoice("", blank)] if blank else []) + languages


class ProfileForm(FlaskForm):
    """A user's own language and time zone (empty: the organization's)."""

    locale = SelectField(_l("Language"))
    timezone = SelectField(_l("Time zone"))

    def __init__(self, *args, organization: object, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = _language_choices(
            _l("The organization's (%(name)s)", name=LANGUAGE_NAMES.get(organization.locale, ""))
        )
        self.timezone.choices = _timezone_choices(
            _l("The organization's (%(name)s)", name=organization.timezone)
        )


class OrganizationForm(FlaskForm):
    """The organization's name and defaults (admins)."""

    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=200)])
    locale = SelectField(_l("Language"))
    timezone = SelectField(_l("Time zone"))
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)])
    sms_quiet_hours = StringField(_l("SMS quiet hours"), validators=[Length(max=20)])
    sms_opt_out_keywords = StringField(_l("SMS opt-out keywords"), validators=[Length(max=200)])
    sms_opt_in_keywords = StringField(_l("SMS opt-in keywords"), validators=[Length(max=200)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = _language_choices()
        self.timezone.choices = _timezone_choices()
