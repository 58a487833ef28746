"""The password policy: long enough, not breached, not the user's own name; passphrases of any
characters up to 128; applied alike by sign-up, invitations and the CLI."""

import pytest

from crm_web.accounts import services
from crm_web.accounts.passwords import check_password_strength, common_passwords
from crm_web.db import set_tenant
from crm_web.errors import ValidationError

EMAIL, NAME = "ada.lovelace@example.com", "Ada Lovelace"


def _refusal(password: str, field: str = "password") -> str:
    with pytest.raises(ValidationError) as refused:
        check_password_strength(password, email=EMAIL, name=NAME, field=field)
    return refused.value.fields[field]


@pytest.mark.parametrize(
    "password", ["password", "12345678", "Password1", "iloveyou2", "QWERTYUIOP"]
)
def test_a_common_password_is_refused(password):
    assert _refusal(password) == "This password is one of the most common ones; choose another."


@pytest.mark.parametrize(
    "password",
    ["ada.lovelace", "my-ADA.LOVELACE-pw", "Lovelace1815!", "adalovelace", "xx-ada.lovelace"],
)
def test_the_users_own_name_or_address_is_refused(password):
    assert _refusal(password) == "Do not use your name or email address in your password."


def test_length_is_counted_in_characters_and_capped():
    assert _refusal("kısa-şı") == "Use at least 8 characters."
    assert _refusal("x" * 129) == "Use at most 128 characters."
    assert _refusal("short", field="admin_password") == "Use at least 8 characters."


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "çılgın kedi ağaçta uyuyor",
        "パスワードは長い方がいい",
        "🐎🔋📎 staple",
        "all lower case and no digits at all",
        "ä" * 128,
        "ada-is-not-enough",  # a part shorter than four characters does not count
    ],
)
def test_passphrases_of_any_characters_are_welcome(password):
    check_password_strength(password, email=EMAIL, name=NAME)


def test_the_list_ships_with_the_package_and_is_read_once():
    assert common_passwords() is common_passwords()
    assert len(common_passwords()) == 100_000
    assert all(len(password) >= 8 for password in common_passwords())


def test_accepting_an_invitation_applies_the_policy(client, make_org):
    organization, admin = make_org()
    set_tenant(organization.id, admin.id)
    user = services.invite_user(email="grace@example.com", name="Grace Hopper", role="sales")
    token = services.invitation_token(user)
    response = client.post(f"/invite/{token}", data={"password": "12345678"})
    assert response.status_code == 422
    assert "one of the most common ones" in response.get_data(as_text=True)
    response = client.post(f"/invite/{token}", data={"password": "hopper's compiler"})
    assert "Do not use your name or email address" in response.get_data(as_text=True)
    assert client.post(f"/invite/{token}", data={"password": "cobol at sea"}).status_code == 303


def test_the_cli_applies_the_policy(app, make_org):
    organization, _admin = make_org()
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "create-user",
            "--org",
            organization.slug,
            "--email",
            "weak@example.com",
            "--role",
            "sales",
            "--password",
            "password1",
        ]
    )
    assert result.exit_code == 1
    assert "password: This password is one of the most common ones" in result.output


def test_a_name_is_refused_without_its_turkish_letters_too():
    with pytest.raises(ValidationError) as refused:
        check_password_strength("caglar2026!", email="sukru@example.com", name="Şükrü Çağlar")
    assert "your name" in refused.value.fields["password"]
    with pytest.raises(ValidationError):
        check_password_strength("Sukru-1987-x", email="x@example.com", name="Şükrü Çağlar")
