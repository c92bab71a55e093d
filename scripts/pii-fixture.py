#!/usr/bin/env python3
"""Writes the labelled PII fixture of warden-data: a customer table across
seven locales (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT, nl_NL) with PII
columns, look-alike columns that hold no personal data, and free-text notes
with and without embedded PII.

Outputs (in OUT_DIR, default crates/warden-data/tests/fixtures/pii):
  table.csv   the table (RFC 4180, multi-line addresses quoted)
  labels.csv  the same header and rows; each cell says what PII the table's
              cell holds: empty (none), a kind for a whole value (`phone`),
              or `kind@start-end` spans separated by `;` for free text
              (UTF-8 byte offsets, end exclusive).

Kinds are warden's entity names: email, phone, ssn, card, iban, ip,
date_of_birth, name, address, postcode. Look-alike columns (order ids shaped
like SSNs, version strings shaped like IPv4, product codes, amounts, zip-like
quantities, tracking numbers, timestamps) are never labelled.

Deterministic: the same seed and Faker version give the same bytes. Run
through scripts/pii-fixture.sh, which builds the pinned virtualenv.
Usage: pii-fixture.py [--seed N] [--rows N] [--out DIR]
"""

import argparse
import csv
import random
import re
from pathlib import Path

from faker import Faker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "crates" / "warden-data" / "tests" / "fixtures" / "pii"
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]
CARD_TYPES = ["amex", "diners", "discover", "jcb15", "jcb16", "maestro",
              "mastercard", "visa13", "visa16", "visa19"]

PII_COLUMNS = ["customer_name", "account_holder", "email", "phone", "contact",
               "ssn", "card_number", "iban", "ip_address", "birth_date",
               "address", "postcode"]
LOOKALIKE_COLUMNS = ["order_id", "app_version", "product_code", "amount",
                     "quantity", "tracking_id", "invoice_ref", "ean",
                     "updated_at"]
HEADER = ["row_id"] + PII_COLUMNS + LOOKALIKE_COLUMNS + ["notes"]

PO_BOX = {
    "en_US": "PO Box {n}\n{city}, {state} {postcode}",
    "en_GB": "PO Box {n}\n{city}\n{postcode}",
    "de_DE": "Postfach {n}\n{postcode} {city}",
    "fr_FR": "BP {n}\n{postcode} {city}",
    "es_ES": "Apartado de Correos {n}\n{postcode} {city}",
    "it_IT": "Casella Postale {n}\n{postcode} {city}",
    "nl_NL": "Postbus {n}\n{postcode} {city}",
}

# Free-text notes. {name} and friends are filled in and labelled; the other
# fields are look-alikes and stay unlabelled.
PII_NOTES = {
    "en": [
        "Spoke with {name} about the late fee.",
        "{name} called to update the billing details.",
        "Customer {name} asked for a callback on {phone}.",
        "Call back {name} on {phone} after 5pm.",
        "Forwarded the complaint from {email} to the branch.",
        "Refund sent to card {card} as agreed.",
        "Please contact {name} ({email}) before shipping.",
        "Login from {ip} flagged by the fraud team.",
        "New address on file: {address_inline}.",
        "Direct debit moved to {iban}.",
        "Verified identity with SSN {ssn}.",
        "Meeting with {name} and {name2} on Tuesday.",
        "Per {name}, the parcel arrived damaged.",
        "Handed over to {name}; waiting for documents.",
        "Sessions from {ipv6} were blocked.",
    ],
    "de": [
        "Rückruf an {name} unter {phone}.",
        "{name} hat die Adresse geändert.",
        "Gespräch mit {name} wegen der Mahnung.",
        "Kunde {name} bittet um Rückruf.",
        "E-Mail von {email} weitergeleitet.",
        "Neue Anschrift: {address_inline}.",
        "Lastschrift auf {iban} umgestellt.",
    ],
    "fr": [
        "Appel de {name} au sujet du remboursement.",
        "Rappeler {name} au {phone}.",
        "{name} a demandé une nouvelle carte.",
        "Courriel reçu de {email}.",
        "Nouvelle adresse : {address_inline}.",
        "Prélèvement sur {iban}.",
    ],
    "es": [
        "Llamada de {name} por la factura.",
        "Devolver la llamada a {name} al {phone}.",
        "{name} solicita cambio de domicilio.",
        "Correo recibido de {email}.",
        "Nueva dirección: {address_inline}.",
    ],
    "it": [
        "Chiamata di {name} per il rimborso.",
        "Richiamare {name} al {phone}.",
        "{name} ha chiesto una nuova carta.",
        "Email ricevuta da {email}.",
        "Nuovo indirizzo: {address_inline}.",
    ],
    "nl": [
        "Gesprek met {name} over de factuur.",
        "{name} terugbellen op {phone}.",
        "E-mail ontvangen van {email}.",
        "Nieuw adres: {address_inline}.",
    ],
}
PLAIN_NOTES = [
    "Upgraded the app to version {version}.",
    "Client on v{version}, asked about the new release.",
    "Release {version} fixes the login issue.",
    "Order {order_id} shipped from the Leeds warehouse.",
    "Refund of {amount} EUR approved on Monday.",
    "Replaced product {product_code} under warranty.",
    "Tracking number {tracking_id} given to the courier.",
    "Invoice {invoice_ref} paid in full.",
    "Quantity changed to {quantity} units.",
    "No remarks.",
    "Paid on time, no issues reported by the branch.",
    "Asked about fees for the Premium Plus account.",
    "Moved to the Gold tier in March.",
    "Visited the Paris office on Friday.",
    "Prefers contact by Email in the morning.",
    "Customer Service escalated the ticket to Level 2.",
    "Firmware build {version} installed on the device.",
    "Statement for April sent by post.",
    "{sentence}",
    "{sentence} {sentence}",
    "Branch code {branch} checked, Visa application pending.",
    "Credit limit raised to {amount}.",
]
TITLES = {
    "en": ["Mr", "Mrs", "Ms", "Dr"],
    "de": ["Herr", "Frau", "Dr."],
    "fr": ["M.", "Mme", "Monsieur", "Madame"],
    "es": ["Sr.", "Sra.", "Don", "Doña"],
    "it": ["Sig.", "Sig.ra", "Dott."],
    "nl": ["dhr.", "mevr.", "Meneer", "Mevrouw"],
}


def utf8_len(s):
    return len(s.encode("utf-8"))


class Filler:
    """Fills a template left to right, recording the byte span of each
    labelled field."""

    def __init__(self):
        self.text = ""
        self.spans = []

    def lit(self, s):
        self.text += s

    def pii(self, kind, s):
        start = utf8_len(self.text)
        self.text += s
        self.spans.append((kind, start, start + utf8_len(s)))


def fill(template, values, kinds):
    f = Filler()
    for part in re.split(r"(\{[a-z_0-9]+\})", template):
        m = re.fullmatch(r"\{([a-z_0-9]+)\}", part)
        if not m:
            f.lit(part)
            continue
        key = m.group(1)
        v = values[key]() if callable(values[key]) else values[key]
        if key in kinds:
            f.pii(kinds[key], v)
        else:
            f.lit(v)
    return f


def group4(s, sep=" "):
    return sep.join(s[i:i + 4] for i in range(0, len(s), 4))


def card_text(rng, number, kind):
    style = rng.random()
    if style < 0.4:
        return number
    sep = " " if style < 0.8 else "-"
    if kind == "amex":
        return sep.join([number[:4], number[4:10], number[10:]])
    if kind == "diners":
        return sep.join([number[:4], number[4:10], number[10:]])
    return group4(number, sep)


def phone_text(rng, fake, loc):
    p = fake.phone_number()
    r = rng.random()
    if r < 0.15:
        # Bare digits, as many systems store them.
        digits = re.sub(r"\D", "", p)
        if p.startswith("+"):
            return "+" + digits
        return digits
    if r < 0.25 and "x" not in p:
        return p + rng.choice([" x", " ext. ", "x", " ext "]) + str(rng.randint(10, 9999))
    return p


def address_text(rng, fake, loc):
    if rng.random() < 0.1:
        state = fake.state_abbr() if loc == "en_US" else ""
        return PO_BOX[loc].format(n=rng.randint(10, 99999), city=fake.city(),
                                  state=state, postcode=fake.postcode())
    a = fake.address()
    if rng.random() < 0.5:
        a = ", ".join(x.strip() for x in a.split("\n"))
    return a


def ssn_like(rng):
    return f"{rng.randint(1, 899):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def version(rng):
    n = rng.choice([3, 4, 4, 4])
    parts = [rng.randint(1, 12)] + [rng.randint(0, 40) for _ in range(n - 1)]
    return ".".join(map(str, parts))


def ean13(rng):
    body = rng.choice(["400", "401", "50", "30", "80", "84", "87"])
    body += "".join(str(rng.randint(0, 9)) for _ in range(12 - len(body)))
    s = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - s % 10) % 10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--rows", type=int, default=2100)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    fakes = {}
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(args.seed * 100 + i)
        fakes[loc] = f
    us = fakes["en_US"]
    rows, labels = [], []
    for r in range(args.rows):
        loc = LOCALES[r % len(LOCALES)]
        fake = fakes[loc]
        lang = loc[:2]
        row, lab = {"row_id": str(r + 1)}, {"row_id": ""}

        def whole(col, kind, value):
            row[col] = value
            lab[col] = kind if value else ""

        name = fake.name()
        whole("customer_name", "name", name)
        whole("account_holder", "name", f"{fake.first_name()} {fake.last_name()}")
        whole("email", "email", fake.email() if rng.random() < 0.7 else fake.free_email())
        whole("phone", "phone", phone_text(rng, fake, loc))
        # A column named for nothing in particular, holding formatted numbers.
        whole("contact", "phone", fake.phone_number())
        whole("ssn", "ssn", us.ssn())
        kind = rng.choice(CARD_TYPES)
        whole("card_number", "card", card_text(rng, fake.credit_card_number(card_type=kind), kind))
        iban = fake.iban()
        whole("iban", "iban", group4(iban) if rng.random() < 0.5 else iban)
        whole("ip_address", "ip", fake.ipv4() if rng.random() < 0.6 else fake.ipv6())
        dob = fake.date_of_birth(minimum_age=18, maximum_age=90)
        whole("birth_date", "date_of_birth", dob.isoformat())
        whole("address", "address", address_text(rng, fake, loc))
        whole("postcode", "postcode", fake.postcode())

        order_id = f"{ssn_like(rng)}-{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"
        looks = {
            "order_id": order_id,
            "app_version": version(rng),
            "product_code": rng.choice([
                f"SKU-{rng.randint(1000, 9999)}-{rng.choice(['XK', 'BL', 'RD'])}",
                f"PRD{rng.randint(100000, 999999)}",
                f"{rng.choice(['AB', 'CD', 'EF'])}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            ]),
            "amount": f"{rng.uniform(1, 25000):.2f}",
            "quantity": f"{rng.randint(0, 99999):05d}" if rng.random() < 0.5 else str(rng.randint(1, 99999)),
            "tracking_id": str(rng.randint(10**9, 10**11 - 1)),
            "invoice_ref": f"INV-{rng.randint(2019, 2026)}-{rng.randint(1, 999999):06d}",
            "ean": ean13(rng),
            "updated_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        }
        for c, v in looks.items():
            row[c] = v
            lab[c] = ""

        # Notes: 55% with embedded PII, the rest look-alikes and prose.
        def person():
            first, last = fake.first_name(), fake.last_name()
            s = rng.random()
            if s < 0.15:
                return f"{rng.choice(TITLES[lang])} {last}"
            if s < 0.25:
                return f"{rng.choice(TITLES[lang])} {first} {last}"
            return f"{first} {last}"

        def inline_address():
            a = fake.address()
            return ", ".join(x.strip() for x in a.split("\n"))

        card_kind = rng.choice(CARD_TYPES)
        values = {
            "name": person, "name2": person,
            "phone": fake.phone_number, "email": fake.email,
            "card": lambda: card_text(rng, fake.credit_card_number(card_type=card_kind), card_kind),
            "ip": fake.ipv4_public, "ipv6": fake.ipv6,
            "address_inline": inline_address, "iban": fake.iban, "ssn": us.ssn,
            "version": lambda: version(rng), "order_id": lambda: f"{ssn_like(rng)}-X",
            "amount": lambda: f"{rng.uniform(10, 9000):,.2f}",
            "product_code": lambda: looks["product_code"],
            "tracking_id": lambda: str(rng.randint(10**9, 10**11 - 1)),
            "invoice_ref": lambda: looks["invoice_ref"],
            "quantity": lambda: f"{rng.randint(0, 99999):05d}",
            "sentence": fake.sentence,
            "branch": lambda: f"{rng.randint(10, 99)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
        }
        kinds = {"name": "name", "name2": "name", "phone": "phone", "email": "email",
                 "card": "card", "ip": "ip", "ipv6": "ip", "address_inline": "address",
                 "iban": "iban", "ssn": "ssn"}
        if rng.random() < 0.55:
            pool = PII_NOTES[lang] if rng.random() < 0.6 else PII_NOTES["en"]
            template = rng.choice(pool)
        else:
            template = rng.choice(PLAIN_NOTES)
        f = fill(template, values, kinds)
        row["notes"] = f.text
        lab["notes"] = ";".join(f"{k}@{a}-{b}" for k, a, b in f.spans)
        rows.append(row)
        labels.append(lab)

    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in (("table.csv", rows), ("labels.csv", labels)):
        with open(args.out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
            w.writeheader()
            w.writerows(data)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
