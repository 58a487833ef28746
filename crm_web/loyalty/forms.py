"""Forms of the loyalty pages. Numbers are text: the services read them, so a page and the API
refuse the same values with the same words."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from crm_web.limits import NAME_MAX

NUMBER = [Length(max=NAME_MAX)]


class ProgramForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=100)])
    code = StringField(_l("Code"), validators=[Length(max=20)])
    description = TextAreaField(_l("Description"), validators=[Length(max=10_000)])
    points_per_unit = StringField(_l("Points per currency unit"), default="1", validators=NUMBER)
    point_expiry_days = StringField(
        _l("Points expire after (days, 0: never)"), default="365", validators=NUMBER
    )
    birthday_multiplier = StringField(
        _l("Multiplier in the birthday month"), default="2", validators=NUMBER
    )
    first_order_bonus = StringField(
        _l("First order bonus (points)"), default="0", validators=NUMBER
    )
    referral_points = StringField(_l("Points for a referral"), default="0", validators=NUMBER)
    survey_points = StringField(_l("Points for a survey response"), default="0", validators=NUMBER)
    tier_basis = SelectField(
        _l("Tiers are reached by"),
        choices=[
            SelectChoice("points", _l("Lifetime points")),
            SelectChoice("spend", _l("Spend in the last 12 months")),
        ],
    )
    terms = TextAreaField(_l("Terms and conditions"), validators=[Length(max=20_000)])
    is_active = BooleanField(_l("Active (orders earn points)"), default=True)


class TierForm(FlaskForm):
    name = StringField(_l("Tier"), validators=[Length(max=60)])
    threshold = StringField(_l("Reached at"), validators=NUMBER)
    points_multiplier = StringField(_l("Earns x"), default="1", validators=NUMBER)
    benefits = StringField(_l("Benefits"), validators=[Length(max=10_000)])


class MultiplierForm(FlaskForm):
    category_id = SelectField(_l("Category"), choices=[], validate_choice=False)
    multiplier = StringField(_l("Earns x"), validators=NUMBER)


class RewardForm(FlaskForm):
    name = StringField(_l("Reward"), validators=[Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[], validate_choice=False)
    points_cost = StringField(_l("Points"), validators=NUMBER)
    stock = StringField(_l("Stock (empty: unlimited)"), validators=NUMBER)
    sku = StringField(_l("Product SKU (product rewards)"), validators=[Length(max=64)])
    coupon_type = SelectField(
        _l("Coupon"),
        choices=[
            SelectChoice("", "—"),
            SelectChoice("percent", _l("Percent off")),
            SelectChoice("amount", _l("Amount off")),
        ],
        validate_choice=False,
    )
    coupon_value = StringField(_l("Coupon value"), validators=NUMBER)
    coupon_valid_days = StringField(_l("Coupon valid for (days)"), validators=NUMBER)
    min_tier_id = SelectField(_l("Only for"), choices=[], validate_choice=False)
    description = TextAreaField(_l("Description"), validators=[Length(max=10_000)])


class RedeemForm(FlaskForm):
    reward_id = SelectField(_l("Reward"), choices=[], validate_choice=False)


class PointsForm(FlaskForm):
    """Points by hand: a plain redemption, or an adjustment up or down."""

    points = StringField(_l("Points"), validators=NUMBER)
    note = StringField(_l("Why"), validators=[Length(max=2000)])
