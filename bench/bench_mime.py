"""MIME builder benchmark: `EmailSkeleton.render` against `build_email(...).as_bytes()` for a
personalised Turkish HTML + text message of about 4 KB. Run by hand (prints figures; not a test):

    .venv/bin/python bench/bench_mime.py [--rounds 5] [--seconds 2]

Both paths build the same message for each recipient (name, address, subject, greeting and an
unsubscribe link of their own; Message-ID, List-Unsubscribe, List-Unsubscribe-Post), in one
process, in alternating rounds so that a busy machine weighs on both sides alike; the figures
pool the rounds. It also times the two body encodings on the sample's text and HTML parts, the
measurement behind the builder's choice of quoted-printable for mostly-ASCII bodies.

Target (the issue's): at least 8x the slow path, ideally over 10,000 messages/s.
"""

import argparse
import binascii
import email.policy
import itertools
import time

from crm_web.messaging.email import build_email
from crm_web.messaging.mime import EmailSkeleton

NAMES = [
    ("Şükrü", "Çağlar"),
    ("Ayşe", "Yıldız"),
    ("İlkay", "Öztürk"),
    ("Gülşen", "Kılıç"),
    ("Mehmet", "Aydın"),
    ("Zeynep", "Şahin"),
    ("Oğuz", "Güneş"),
    ("Çiğdem", "Doğan"),
]
PRODUCTS = [
    ("Bambu çay bardağı seti (6'lı)", "249,90 TL"),
    ("El yapımı İznik çini kase", "1.150,00 TL"),
    ("Organik Ayvalık zeytinyağı, 1 L", "389,50 TL"),
    ("Yün battaniye — Kars işi", "2.400,00 TL"),
]


def personalised(index: int) -> dict:
    """One recipient's message: ~4 KB of Turkish text and HTML."""
    first, last = NAMES[index % len(NAMES)]
    token = f"{index:08x}c0ffee{index * 7919:010x}"
    unsubscribe = f"https://crm.example.com.tr/u/{token}"
    lines = "\n".join(f"- {name}: {price}" for name, price in PRODUCTS)
    rows = "".join(
        f'<tr><td style="padding:4px 8px">{name}</td>'
        f'<td style="padding:4px 8px;text-align:right">{price}</td></tr>'
        for name, price in PRODUCTS
    )
    paragraph = (
        "Kış koleksiyonumuz mağazalarımızda ve internet sitemizde sizi bekliyor. Bu hafta "
        "sonuna kadar seçili ürünlerde %20 indirim var; kargo 500 TL ve üzeri siparişlerde "
        "ücretsiz. Siparişiniz genellikle iki iş günü içinde kargoya verilir."
    )
    text = (
        f"Merhaba {first} {last},\n\n{paragraph}\n\nSizin için seçtiklerimiz:\n{lines}\n\n"
        f"{paragraph}\n\nSevgilerle,\nAcme Ticaret Müşteri Hizmetleri\n\n"
        f"Bu e-postaları almak istemiyorsanız: {unsubscribe}\n"
    )
    html = (
        '<!DOCTYPE html><html lang="tr"><head><meta charset="utf-8"><title>Kış koleksiyonu'
        '</title></head><body style="font-family:Arial,sans-serif;color:#222">'
        f"<p>Merhaba <b>{first} {last}</b>,</p><p>{paragraph}</p>"
        f'<table style="border-collapse:collapse">{rows}</table><p>{paragraph}</p>'
        "<p>Sevgilerle,<br>Acme Ticaret Müşteri Hizmetleri</p>"
        f'<p style="font-size:11px;color:#888"><a href="{unsubscribe}">Abonelikten çık</a>'
        "</p></body></html>"
    )
    return {
        "to_name": f"{first} {last}",
        "to_address": f"musteri.{index}@example.com.tr",
        "subject": f"{first}, kış koleksiyonunda %20 indirim sizi bekliyor",
        "text": text,
        "html": html,
        "message_id": f"<delivery-{index}.campaign-42@crm.example.com.tr>",
        "headers": {
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:unsubscribe@crm.example.com.tr>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }


SENDER_NAME = "Acme Ticaret"
SENDER_ADDRESS = "kampanya@acme.example.com.tr"


def fast(skeleton: EmailSkeleton, message: dict) -> bytes:
    return skeleton.render(**message)


def slow(message: dict) -> bytes:
    return build_email(
        sender=f"{SENDER_NAME} <{SENDER_ADDRESS}>",
        to=(message["to_name"], message["to_address"]),
        subject=message["subject"],
        text=message["text"],
        html=message["html"],
        headers={"Message-ID": message["message_id"], **message["headers"]},
    ).as_bytes(policy=email.policy.SMTP)


def timed(build, messages: list[dict], seconds: float) -> tuple[int, float, float]:
    """Messages built, wall seconds and CPU seconds taken, building for about `seconds`."""
    count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for message in itertools.cycle(messages):
        build(message)
        count += 1
        if count % 100 == 0 and time.perf_counter() - started >= seconds:
            break
    return count, time.perf_counter() - started, time.process_time() - cpu_started


def microseconds(function, argument, repeat: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function(argument)
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    messages = [personalised(index) for index in range(1000)]
    skeleton = EmailSkeleton(sender_address=SENDER_ADDRESS, sender_name=SENDER_NAME)
    sample = messages[0]
    print(
        f"message: {len(fast(skeleton, sample)):,} bytes rendered "
        f"({len(sample['text'].encode()):,} B text + {len(sample['html'].encode()):,} B HTML); "
        f"the slow path's: {len(slow(sample)):,} bytes"
    )
    for name in ("text", "html"):
        data = sample[name].replace("\n", "\r\n").encode()
        qp, b64 = binascii.b2a_qp(data), binascii.b2a_base64(data)  # b2a_qp: istext by default
        print(
            f"  {name:<4} quoted-printable {len(qp):>5,} B "
            f"{microseconds(binascii.b2a_qp, data):6.1f} µs   "
            f"base64 {len(b64) * 78 // 76:>5,} B (with line breaks) "
            f"{microseconds(binascii.b2a_base64, data):6.1f} µs"
        )

    # Per path: messages, wall seconds, CPU seconds. On a shared machine the wall-clock rate
    # drops with the load; messages per CPU second is what the builder itself costs.
    totals = {"render": [0, 0.0, 0.0], "build_email": [0, 0.0, 0.0]}
    print(f"\n{'round':<7}{'render msg/s':>14}{'build_email msg/s':>19}{'ratio':>8}")
    for round_number in range(1, args.rounds + 1):
        figures = {}
        for name, build in (
            ("render", lambda message: fast(skeleton, message)),
            ("build_email", slow),
        ):
            count, elapsed, cpu = timed(build, messages, args.seconds)
            totals[name] = [
                sum(pair) for pair in zip(totals[name], (count, elapsed, cpu), strict=True)
            ]
            figures[name] = count / elapsed
        print(
            f"{round_number:<7}{figures['render']:>14,.0f}{figures['build_email']:>19,.0f}"
            f"{figures['render'] / figures['build_email']:>7.1f}x"
        )
    (fast_count, fast_wall, fast_cpu), (slow_count, slow_wall, slow_cpu) = totals.values()
    fast_rate, slow_rate = fast_count / fast_wall, slow_count / slow_wall
    print(f"{'pooled':<7}{fast_rate:>14,.0f}{slow_rate:>19,.0f}{fast_rate / slow_rate:>7.1f}x")
    fast_cpu_rate, slow_cpu_rate = fast_count / fast_cpu, slow_count / slow_cpu
    print(
        f"{'per CPU second':<7}{fast_cpu_rate:>7,.0f}{slow_cpu_rate:>19,.0f}"
        f"{fast_cpu_rate / slow_cpu_rate:>7.1f}x"
    )
    print(
        f"CPU per message: render {1e6 / fast_cpu_rate:.1f} µs, build_email {1e6 / slow_cpu_rate:.1f} µs"
    )


if __name__ == "__main__":
    main()
