"""Every field a person sets on a customer, declared once.

The form, the API, validation, the CSV import (headers and their aliases) and export (in this
order) and the demo data all read FIELDS. Lengths and defaults come from the model's columns.
The kinds are checked by customers.validation: text, choice, digits, date, email, phone,
website, amount, tags, country, timezone, bool, owner (a user, by email in files); multiline
is text on several lines.
"""

from crm_web.customers.models import (
    COMPANY_SIZES,
    CUSTOMER_TYPES,
    GENDERS,
    LIFECYCLE_STAGES,
    Customer,
)
from crm_web.fields import ALIASES as A
from crm_web.fields import Field, choices, declare
from crm_web.i18n import LANGUAGE_NAMES

F = Field
FIELDS = declare(
    Customer,
    F(
        "customer_type",
        "Type",
        "choice",
        ("Customer type", "Tür", "Tip", "Müşteri tipi"),
        choices(CUSTOMER_TYPES),
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
    ),
    F("title", "Title", aliases=("Salutation", "Hitap", "Unvan")),
    F("first_name", "First name", aliases=A["first_name"]),
    F("last_name", "Last name", aliases=A["last_name"]),
    F("company_name", "Company", aliases=A["company"]),
    F("job_title", "Job title", aliases=A["job_title"]),
    F("tax_number", "Tax number", "digits", ("Tax ID", "VAT number", "Vergi no", "VKN")),
    F("tax_office", "Tax office", aliases=("Vergi dairesi",)),
    F(
        "identity_number",
        "Identity number",
        "digits",
        ("National ID", "TC", "TCKN", "TC kimlik no", "Kimlik no"),
    ),
    F("birth_date", "Birth date", "date", ("Date of birth", "Birthday", "DOB", "Doğum tarihi")),
    F(
        "gender",
        "Gender",
        "choice",
        ("Sex", "Cinsiyet"),
        tuple(zip(GENDERS, ("—", "Female", "Male", "Other"), strict=True)),
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
    ),
    F("primary_email", "Email", "email", A["email"]),
    F(
        "secondary_email",
        "Secondary email",
        "email",
        ("Other email", "İkinci e-posta"),
        form_label="Second email",
    ),
    F("primary_phone", "Phone", "phone", A["phone"]),
    F(
        "secondary_phone",
        "Secondary phone",
        "phone",
        ("Other phone", "İkinci telefon"),
        form_label="Second phone",
    ),
    F("website", "Website", "website", A["website"]),
    F("industry", "Industry", aliases=A["industry"]),
    F(
        "company_size",
        "Company size",
        "choice",
        A["company_size"],
        tuple((value, value or "—") for value in COMPANY_SIZES),
    ),
    F("annual_revenue", "Annual revenue", "amount", ("Revenue", "Yıllık ciro", "Ciro")),
    F("lead_source", "Lead source", aliases=("Source", "Kaynak")),
    F("customer_since", "Customer since", "date", ("Müşteri başlangıç",)),
    F("is_active", "Active", "bool", ("Aktif",)),
    F(
        "lifecycle_stage",
        "Lifecycle stage",
        "choice",
        ("Stage", "Lifecycle", "Aşama"),
        choices(LIFECYCLE_STAGES),
    ),
    F("tags", "Tags", "tags", ("Tag", "Etiketler", "Etiket"), form_label="Tags (comma separated)"),
    F("address", "Address", "multiline", ("Adres",)),
    F("city", "City", aliases=A["city"]),
    F("country", "Country", "country", A["country"], form_label="Country code"),
    F("timezone", "Time zone", "timezone", ("Timezone", "Saat dilimi")),
    F(
        "language",
        "Language",
        "choice",
        ("Dil", "Locale"),
        # Empty: the organization's language. Each language is named as it calls itself.
        (("", "—"), *LANGUAGE_NAMES.items()),
        {"english": "en", "ingilizce": "en", "turkish": "tr", "türkçe": "tr", "turkce": "tr"},
        form_label="Language of messages",
    ),
    F(
        "email_opt_in",
        "Email opt-in",
        "bool",
        ("Email consent", "Newsletter", "E-posta izni"),
        form_label="Agrees to email",
    ),
    F("sms_opt_in", "SMS opt-in", "bool", ("SMS consent", "SMS izni"), form_label="Agrees to SMS"),
    F(
        "do_not_contact",
        "Do not contact",
        "bool",
        ("İletişime kapalı", "Aranmasın"),
        form_label="Do not contact at all",
    ),
    F("owner_id", "Owner", "owner", A["owner"]),
)
BY_NAME = {f.name: f for f in FIELDS}
# Every field a person may set, in the order of the CSV file.
NAMES = tuple(BY_NAME)


def of_kind(*kinds: str) -> tuple[str, ...]:
    """The names of the fields of these kinds."""
    return tuple(f.name for f in FIELDS if f.kind in kinds)
