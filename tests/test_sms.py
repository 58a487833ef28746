"""The SMS gateway adapter against a real HTTP server on loopback standing in for the provider."""

import socket

import pytest
from sms_gateway import ACCOUNT, TOKEN, running_gateway

from crm_web.messaging import sms


@pytest.fixture
def gateway_server():
    with running_gateway() as server:
        yield server


@pytest.fixture
def adapter(gateway_server):
    gateway = sms.SmsGateway(gateway_server.url, "+15550000001", timeout=2)
    try:
        yield gateway
    finally:
        gateway.close()


def test_sends_a_form_post_and_returns_the_sid(adapter, gateway_server):
    sent = adapter.send(
        "+905321112233", "Ticket T-7 breached its SLA", status_callback="https://crm/cb/1"
    )

    [received] = gateway_server.messages
    assert sent == sms.SentSms(sid=received.sid, status="queued")
    assert (received.to, received.sender, received.body) == (
        "+905321112233",
        "+15550000001",
        "Ticket T-7 breached its SLA",
    )
    assert received.status_callback == "https://crm/cb/1"


def test_one_http_session_carries_many_messages(adapter, gateway_server):
    sids = {adapter.send(f"+9053211122{n:02d}", f"message {n}").sid for n in range(5)}

    assert len(sids) == 5
    assert len(gateway_server.messages) == 5
    assert gateway_server.connections == 1  # keep-alive: one TCP connection for all


def test_the_process_keeps_one_gateway_per_configuration(gateway_server):
    config = {"SMS_GATEWAY_URL": gateway_server.url, "SMS_FROM": "+15550000002"}
    assert sms.is_configured(config)
    assert sms.gateway(config) is sms.gateway(dict(config))
    assert not sms.is_configured({"SMS_GATEWAY_URL": "", "SMS_FROM": "+1555"})
    with pytest.raises(sms.SmsNotConfigured):
        sms.gateway({"SMS_GATEWAY_URL": "", "SMS_FROM": ""})
    with pytest.raises(sms.SmsNotConfigured):
        sms.SmsGateway("ftp://gateway.example/send", "+1555")
    with pytest.raises(sms.SmsNotConfigured):
        sms.SmsGateway(gateway_server.url, "")


def test_a_refusal_is_a_clear_permanent_error(adapter, gateway_server):
    gateway_server.script(
        400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}
    )
    with pytest.raises(sms.SmsNotSent) as error:
        adapter.send("+1", "hello")
    assert not error.value.retryable
    assert str(error.value) == (
        "The SMS gateway refused the message (400): The 'To' number is not valid. (code 21211)"
    )
    assert gateway_server.messages == []


def test_wrong_credentials_are_refused(gateway_server):
    wrong = gateway_server.url.replace(TOKEN, "wrong-token")
    gateway = sms.SmsGateway(wrong, "+15550000001", timeout=2)
    try:
        with pytest.raises(sms.SmsNotSent, match=r"\(401\): Authenticate") as error:
            gateway.send("+905321112233", "hello")
        assert not error.value.retryable
    finally:
        gateway.close()


def test_overload_and_server_errors_may_be_retried(adapter, gateway_server):
    gateway_server.script(429, {"message": "Too many requests"})
    gateway_server.script(503, {"message": "Down"})
    for expected in ("(429): Too many requests", "(503): Down"):
        with pytest.raises(sms.SmsNotSent) as error:
            adapter.send("+905321112233", "hello")
        assert error.value.retryable
        assert expected in str(error.value)
    # And the next attempt goes through on the same session.
    assert adapter.send("+905321112233", "hello").sid == gateway_server.messages[0].sid


def test_no_gateway_listening_means_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = sms.SmsGateway(f"http://{ACCOUNT}:{TOKEN}@127.0.0.1:{port}/send", "+1555", timeout=2)
    try:
        with pytest.raises(sms.SmsNotSent, match="cannot be reached") as error:
            gateway.send("+905321112233", "hello")
        assert error.value.retryable
    finally:
        gateway.close()


def test_a_slow_answer_leaves_the_outcome_uncertain(gateway_server):
    gateway_server.script(201, {"sid": "SMlate"}, delay=1.0)
    gateway = sms.SmsGateway(gateway_server.url, "+15550000001", timeout=0.3)
    try:
        with pytest.raises(sms.SmsUncertain, match="did not answer"):
            gateway.send("+905321112233", "hello")
    finally:
        gateway.close()


def test_an_answer_without_a_sid_is_uncertain(adapter, gateway_server):
    gateway_server.script(200, {"status": "queued"})
    with pytest.raises(sms.SmsUncertain, match="without a message sid"):
        adapter.send("+905321112233", "hello")


def test_signatures_follow_twilios_scheme():
    # The worked example of Twilio's webhook security documentation.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sms.signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_status_callbacks_are_verified_and_parsed():
    url = "https://crm.example/outbox/sms-status/1/2"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+905321112233"}
    signed = sms.signature("secret", url, params)

    assert sms.parse_status_callback("secret", url, params, signed) == sms.StatusReport(
        sid="SM1", status="delivered", error_code=""
    )
    with pytest.raises(sms.SmsError, match="signature"):
        sms.parse_status_callback("secret", url, {**params, "MessageStatus": "failed"}, signed)
    with pytest.raises(sms.SmsError, match="signature"):
        sms.parse_status_callback("secret", url + "?x=1", params, signed)
    with pytest.raises(sms.SmsError, match="off"):
        sms.parse_status_callback("", url, params, signed)
    odd = {"MessageSid": "SM1", "MessageStatus": "exploded"}
    with pytest.raises(sms.SmsError, match="unknown status"):
        sms.parse_status_callback("secret", url, odd, sms.signature("secret", url, odd))


def test_the_webhook_secret_defaults_to_the_gateway_password():
    url = "https://AC1:tok%40en@gw.example/Messages.json"
    assert sms.webhook_secret({"SMS_GATEWAY_URL": url}) == "tok@en"
    assert sms.webhook_secret({"SMS_GATEWAY_URL": url, "SMS_WEBHOOK_SECRET": "own"}) == "own"
    assert sms.webhook_secret({"SMS_GATEWAY_URL": ""}) == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ("GSM-7", 0, 0)),
        ("a" * 160, ("GSM-7", 1, 160)),
        ("a" * 161, ("GSM-7", 2, 161)),
        ("a" * 306, ("GSM-7", 2, 306)),
        ("a" * 307, ("GSM-7", 3, 307)),
        # Every extension character is an escape plus one septet.
        ("{}[]~^\\|€", ("GSM-7", 1, 18)),
        ("€" * 80, ("GSM-7", 1, 160)),
        ("a" * 159 + "€", ("GSM-7", 2, 161)),
        # An extension character that would straddle two parts moves whole to the next one:
        # 152 + 2 does not fit in 153, so the second part holds it and the rest.
        ("a" * 152 + "€" + "a" * 152, ("GSM-7", 3, 306)),
        ("a" * 151 + "€" + "a" * 153, ("GSM-7", 2, 306)),
        ("ş" * 70, ("UCS-2", 1, 70)),
        ("ş" * 71, ("UCS-2", 2, 71)),
        ("ş" * 134, ("UCS-2", 2, 134)),
        ("ş" * 135, ("UCS-2", 3, 135)),
        # Emoji outside the BMP are two UTF-16 code units, never split across parts.
        ("😀" * 35, ("UCS-2", 1, 70)),
        ("😀" * 36, ("UCS-2", 2, 72)),
        ("a" * 66 + "😀" + "a" * 66, ("UCS-2", 3, 134)),
        ("a" * 65 + "😀" + "a" * 67, ("UCS-2", 2, 134)),
    ],
)
def test_segments_at_the_boundaries(body, expected):
    assert sms.segments(body) == sms.SmsSegments(*expected)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("Çok güzel! Ödeme alındı", "UCS-2"),  # dotless ı
        ("Çok güzel! Ödeme alindi", "GSM-7"),  # Ç, ü, Ö are in the GSM-7 basic table
        ("çok", "UCS-2"),  # only the capital Ç is
        ("Şubat", "UCS-2"),
        ("dağ", "UCS-2"),
        ("İstanbul", "UCS-2"),
        ("Istanbul", "GSM-7"),
        ("Préférences: Ñ, ß, Å, Ø, Æ, ΔΦΓΛΩΠΨΣΘΞ, £$¥¤§¡¿", "GSM-7"),
        ("Don’t", "UCS-2"),  # the typographic apostrophe is not GSM-7
        ("Line one\nLine two\r\n", "GSM-7"),
    ],
)
def test_turkish_and_other_letters_pick_the_encoding(body, encoding):
    assert sms.segments(body).encoding == encoding


def test_a_turkish_reminder_costs_what_the_phone_shows():
    body = "Sayın müşterimiz, randevunuz yarın saat 14:00'te. İptal için 0850 123 45 67'yi arayın."
    # 86 characters, past the 70 of one UCS-2 message: two parts of up to 67.
    assert sms.segments(body) == sms.SmsSegments("UCS-2", 2, 86)
