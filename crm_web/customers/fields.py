"""Every field a person sets on a customer, declared once.

The form, the API, validation, the CSV import (headers and their aliases) and export (in this
order) and the demo data all read FIELDS. Lengths and defaults come from the model's columns.
The kinds are checked by customers.validation: text, choice, digits, date, email, phone,
website, amount, tags, country, timezone, bool, owner (a user, by email in files); multiline
is text on several lines.
"""

from flask_babel import lazy_gettext as _l

from crm_web import labels
from crm_web.customers.models import (
    COMPANY_SIZES,
    Customer,
)
from crm_web.fields import ALIASES as A
from crm_web.fields import Field, declare
from crm_web.i18n import LANGUAGE_NAMES

F = Field
FIELDS = declare(
    Customer,
    F(
        "customer_type",
        "Type",
        "choice",
        ("Customer type", "Tür", "Tip", "Müşteri tipi"),
        labels.choices(labels.CUSTOMER_TYPE),
        {
            "individual": "person",
            "kişi": "person",
            "bireysel": "person",
            "şahıs": "person",
            "business": "company",
            "organization": "company",
            "şirket": "company",
            "kurumsal": "company",
            "firma": "company",
        },
        form_label=_l("Type"),
    ),
    F("title", "Title", aliases=("Salutation", "Hitap", "Unvan"), form_label=_l("Title")),
    F("first_name", "First name", aliases=A["first_name"], form_label=_l("First name")),
    F("last_name", "Last name", aliases=A["last_name"], form_label=_l("Last name")),
    F("company_name", "Company", aliases=A["company"], form_label=_l("Company")),
    F("job_title", "Job title", aliases=A["job_title"], form_label=_l("Job title")),
    F(
        "tax_number",
        "Tax number",
        "digits",
        ("Tax ID", "VAT number", "Vergi no", "VKN"),
        form_label=_l("Tax number"),
    ),
    F("tax_office", "Tax office", aliases=("Vergi dairesi",), form_label=_l("Tax office")),
    F(
        "identity_number",
        "Identity number",
        "digits",
        ("National ID", "TC", "TCKN", "TC kimlik no", "Kimlik no"),
        form_label=_l("Identity number"),
    ),
    F(
        "birth_date",
        "Birth date",
        "date",
        ("Date of birth", "Birthday", "DOB", "Doğum tarihi"),
        form_label=_l("Birth date"),
    ),
    F(
        "gender",
        "Gender",
        "choice",
        ("Sex", "Cinsiyet"),
        labels.choices(labels.GENDER),
        {
            "female": "F",
            "woman": "F",
            "kadın": "F",
            "k": "F",
            "male": "M",
            "man": "M",
            "erkek": "M",
            "e": "M",
            "other": "O",
            "diğer": "O",
        },
        form_label=_l("Gender"),
    ),
    F("primary_email", "Email", "email", A["email"], form_label=_l("Email")),
    F(
        "secondary_email",
        "Secondary email",
        "email",
        ("Other email", "İkinci e-posta"),
        form_label=_l("Second email"),
    ),
    F("primary_phone", "Phone", "phone", A["phone"], form_label=_l("Phone")),
    F(
        "secondary_phone",
        "Secondary phone",
        "phone",
        ("Other phone", "İkinci telefon"),
        form_label=_l("Second phone"),
    ),
    F("website", "Website", "website", A["website"], form_label=_l("Website")),
    F("industry", "Industry", aliases=A["industry"], form_label=_l("Industry")),
    F(
        "company_size",
        "Company size",
        "choice",
        A["company_size"],
        tuple((value, value or "—") for value in COMPANY_SIZES),
        form_label=_l("Company size"),
    ),
    F(
        "annual_revenue",
        "Annual revenue",
        "amount",
        ("Revenue", "Yıllık ciro", "Ciro"),
        form_label=_l("Annual revenue"),
    ),
    F("lead_source", "Lead source", aliases=("Source", "Kaynak"), form_label=_l("Lead source")),
    F(
        "customer_since",
        "Customer since",
        "date",
        ("Müşteri başlangıç",),
        form_label=_l("Customer since"),
    ),
    F("is_active", "Active", "bool", ("Aktif",), form_label=_l("Active")),
    F(
        "lifecycle_stage",
        "Lifecycle stage",
        "choice",
        ("Stage", "Lifecycle", "Aşama"),
        labels.choices(labels.LIFECYCLE_STAGE),
        form_label=_l("Lifecycle stage"),
    ),
    F(
        "tags",
        "Tags",
        "tags",
        ("Tag", "Etiketler", "Etiket"),
        form_label=_l("Tags (comma separated)"),
    ),
    F("address", "Address", "multiline", ("Adres",), form_label=_l("Address")),
    F("city", "City", aliases=A["city"], form_label=_l("City")),
    F("country", "Country", "country", A["country"], form_label=_l("Country code")),
    F("timezone", "Time zone", "timezone", ("Timezone", "Saat dilimi"), form_label=_l("Time zone")),
    F(
        "language",
        "Language",
        "choice",
        ("Dil", "Locale"),
        # Empty: the organization's language. Each language is named as it calls itself.
        (("", "—"), *LANGUAGE_NAMES.items()),
        {"english": "en", "ingilizce": "en", "turkish": "tr", "türkçe": "tr", "turkce": "tr"},
        form_label=_l("Language of messages"),
    ),
    F(
        "email_opt_in",
        "Email opt-in",
        "bool",
        ("Email consent", "Newsletter", "E-posta izni"),
        form_label=_l("Agrees to email"),
    ),
    F(
        "sms_opt_in",
        "SMS opt-in",
        "bool",
        ("SMS consent", "SMS izni"),
        form_label=_l("Agrees to SMS"),
    ),
    F(
        "do_not_contact",
        "Do not contact",
        "bool",
        ("İletişime kapalı", "Aranmasın"),
        form_label=_l("Do not contact at all"),
    ),
    F("owner_id", "Owner", "owner", A["owner"], form_label=_l("Owner")),
)
BY_NAME = {f.name: f for f in FIELDS}
# Every field a person may set, in the order of the CSV file.
NAMES = tuple(BY_NAME)


def of_kind(*kinds: str) -> tuple[str, ...]:
    """The names of the fields of these kinds."""
    return tuple(f.name for f in FIELDS if f.kind in kinds)
