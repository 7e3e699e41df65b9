"""Writes corpus.jsonl: the labelled strings that measure rasi's PII redaction.

Run once (deterministic, seeded); the output is committed and read by the Swift test
`RedactionCorpusTests`. Each line: {"text": ..., "pii": [{"type": ..., "value": ...}]}, where
`value` is the exact substring that must be gone after redaction. Strings with no PII carry
ordinary numbers (prices, dates, order ids, times, versions) that must be left alone.
"""
import json
import random
from pathlib import Path

rng = random.Random(7)


def luhn_complete(prefix, length):
    digits = [int(d) for d in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    for check in range(10):
        candidate = digits + [check]
        total = 0
        for i, d in enumerate(reversed(candidate)):
            v = d * 2 if i % 2 == 1 else d
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return "".join(map(str, candidate))


def iban(country, length):
    bban = "".join(str(rng.randint(0, 9)) for _ in range(length - 4))
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - number % 97
    return f"{country}{check:02d}{bban}"


def spaced(s, size=4):
    return " ".join(s[i:i + size] for i in range(0, len(s), size))


names = ["Ann", "Bob", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jules"]
domains = ["example.com", "mail.example.org", "corp.example.co.uk", "uni.example.edu", "example.io"]
rows = []


def add(text, *pii):
    rows.append({"text": text, "pii": [{"type": t, "value": v} for t, v in pii]})


# E-mail addresses
for i in range(40):
    name = rng.choice(names).lower()
    email = rng.choice([f"{name}@{rng.choice(domains)}", f"{name}.{rng.choice(names).lower()}+rasi@{rng.choice(domains)}",
                        f"{name}_{rng.randint(1, 99)}@{rng.choice(domains)}"])
    template = rng.choice(["Please write to {} about the refund.", "My e-mail is {}", "Contact: {}.", "send the invoice to {} asap",
                           "({}) asked twice", "cc {}, thanks"])
    add(template.format(email), ("EMAIL", email))

# Phone numbers, international and North American forms
phones = []
for i in range(40):
    phones.append(rng.choice([
        f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
        f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
        f"+49 30 {rng.randint(100000, 999999)}{rng.randint(10, 99)}",
        f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        f"+91-{rng.randint(70000, 99999)}-{rng.randint(10000, 99999)}",
        f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        f"+61 4{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        f"020 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
    ]))
for phone in phones:
    template = rng.choice(["Call me on {} after 5pm.", "my number is {}", "Phone: {}", "reach the driver at {} please",
                           "I tried {} twice and nobody answered"])
    add(template.format(phone), ("PHONE", phone))

# Payment cards (Luhn-valid), with and without separators
for i in range(35):
    brand = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("4", 13), ("35", 19)])
    number = luhn_complete(*brand)
    shown = rng.choice([number, spaced(number), "-".join(number[i:i + 4] for i in range(0, len(number), 4))])
    template = rng.choice(["Charge card {} for the upgrade.", "card number: {}", "I paid with {} yesterday", "use {} exp 09/27"])
    add(template.format(shown), ("CARD", shown))

# IBANs (mod-97 valid)
for i in range(35):
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24), ("IT", 27), ("BE", 16), ("CH", 21)])
    value = iban(country, length)
    if country == "GB":
        value = value[:4] + "NWBK" + value[8:]
        value = iban("GB", 22)  # keep digits-only BBAN valid
    shown = rng.choice([value, spaced(value)])
    template = rng.choice(["Refund to IBAN {} please.", "my account: {}", "IBAN {} (Ann's account)", "transfer it to {}"])
    add(template.format(shown), ("IBAN", shown))

# US social security numbers
for i in range(30):
    area = rng.choice([n for n in range(1, 900) if n != 666])
    ssn = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    template = rng.choice(["SSN {} on file", "my social is {}", "Social security number: {}.", "verify {} for the tax form"])
    add(template.format(ssn), ("SSN", ssn))

# IP addresses, v4 and v6
for i in range(35):
    if i % 3 == 2:
        ip = rng.choice([f"2001:db8:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xffff):x}", "fe80::1ff:fe23:4567:890a",
                         f"2001:0db8:85a3:0000:0000:8a2e:{rng.randint(0x1000, 0xffff):04x}:7334", "::1"])
    else:
        ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    template = rng.choice(["Login from {} was blocked.", "client ip={} ", "the server at {} is down", "whitelist {}, thanks"])
    add(template.format(ip), ("IP", ip))

# Secrets
def token(n, alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return "".join(rng.choice(alphabet) for _ in range(n))

for i in range(40):
    kind = i % 8
    if kind == 0:
        secret = "sk-" + token(40); add(f"my key is {secret}, it stopped working", ("SECRET", secret))
    elif kind == 1:
        secret = token(32); add(f"Authorization: Bearer {secret}", ("SECRET", secret))
    elif kind == 2:
        secret = "ghp_" + token(36); add(f"GitHub token {secret} leaked in the log", ("SECRET", secret))
    elif kind == 3:
        secret = "AKIA" + token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"); add(f"aws key {secret} in config", ("SECRET", secret))
    elif kind == 4:
        body = "\n".join(token(64) for _ in range(3))
        secret = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
        add(f"here is the key:\n{secret}\nuse it", ("SECRET", secret))
    elif kind == 5:
        secret = token(12); add(f"connect to postgres://admin:{secret}@db.internal:5432/app", ("SECRET", secret))
    elif kind == 6:
        secret = token(10); add(f"password={secret} for the staging box", ("SECRET", secret))
    else:
        secret = "eyJ" + token(20) + "." + token(30) + "." + token(25); add(f"the JWT was {secret}", ("SECRET", secret))

# Records with several kinds at once
for i in range(15):
    email = f"{rng.choice(names).lower()}@{rng.choice(domains)}"
    phone = f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
    card = luhn_complete("4", 16)
    add(f"{email} called from {phone} to dispute card {card}; reply to {email}", ("EMAIL", email), ("PHONE", phone), ("CARD", card))

# No personal data: prices, dates, order ids, times, versions, quantities, near misses
negatives = [
    "The jacket costs $1,299.99 and ships in 3-5 days.", "Order #100234567 was placed on 2024-03-15.", "Meet at 12:30:45 on 03/04/2024.",
    "Version 2.14.3 fixes the bug from 1.9.0.", "Deliver 250 units by 15.06.2025.", "Your order ORD-2024-000123 is on its way.",
    "Invoice INV-88231-2024 totals €4,500.00.", "The flight leaves at 07:45 and lands at 19:20.", "Tracking number 1Z999AA10123456784.",
    "Room 4102, floor 41, building B.", "Population 8,336,817 in 2020.", "Set the timeout to 30000 ms and retries to 5.",
    "Card ending in 4242 was charged.", "Reference 4111 1111 1111 1112 is not valid.", "Account DE89 3704 0044 0532 0130 01 (typo).",
    "SSN format is XXX-XX-XXXX.", "Coordinates 48.8566, 2.3522.", "Error code 0x80070005 at 10:02.", "Pay 3 x $19.99 = $59.97.",
    "Bought 12 apples for 4.50 on 2023-12-01.", "ISBN 978-3-16-148410-0 is in stock.", "Use port 8080 and timeout 60.",
    "The score was 3-2 after 90 minutes.", "Temperature 21.5°C, humidity 40%.", "Ticket 2024-11-24-0042 is open.",
    "Item SKU 00012345 costs 9.99.", "Call center hours: 9-17, Mon-Fri.", "Chapter 12, page 345, line 6.",
    "Version 10.0.19045.3693 of Windows.", "The 2nd of March 2024 at 14:00.", "Order 5550123 shipped.",
    "Invoice total 1.234,56 EUR.", "batch 000-00-0000 is a placeholder", "Serial 1234-5678-9012 on the box.",
    "Weight 1,250 g, length 30 cm.", "Pin the tweet from 2024/01/05.", "Estimated delivery: 5-7 business days.",
    "Build 20240315.1 passed.", "The budget is 2,500,000 USD for 2025.", "Its model number is 15-dw1083wm.",
]
for text in negatives * 2:
    add(text)
extra_negatives = [f"Order {rng.randint(10000, 99999999)} for {rng.randint(1, 20)} items at ${rng.randint(1, 999)}.{rng.randint(10, 99)} on 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                   for _ in range(20)]
for text in extra_negatives:
    add(text)

out = Path(__file__).with_name("corpus.jsonl")
out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
print(f"wrote {len(rows)} strings to {out}")
