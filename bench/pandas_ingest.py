"""The job `warden data ingest --no-screen` does, the way a pandas user would do it.

Reads the CSV with pandas, runs a Presidio-style regex pass (email, phone,
US SSN, payment card with Luhn) over every string column, drops the columns
whose values are mostly PII, pseudonymises the id with HMAC-SHA256, checks
for duplicate rows, and writes the clean table as CSV.

    python bench/pandas_ingest.py IN.csv OUT.csv
"""

import hashlib
import hmac
import re
import sys
import time

import pandas as pd

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}")
PHONE = re.compile(r"(?:\+[1-9][0-9 .\-()]{7,18}[0-9])|(?:\(\d{2,4}\)\s?\d{3,4}[\s.\-]\d{3,4})|(?:\b\d{3}[.\-]\d{3}[.\-]\d{4}\b)")
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
CARD = re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")


def luhn(s):
    d = [int(c) for c in s if c.isdigit()]
    total = 0
    for i, v in enumerate(reversed(d)):
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


def is_pii(v):
    if "@" in v and EMAIL.fullmatch(v):
        return True
    if SSN.fullmatch(v) or PHONE.fullmatch(v.strip()):
        return True
    m = CARD.fullmatch(v)
    return bool(m and luhn(v))


def main(src, dst):
    t0 = time.time()
    df = pd.read_csv(src, na_values=["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"])
    t1 = time.time()
    drop = []
    for col in df.columns:
        if not (df[col].dtype == object or pd.api.types.is_string_dtype(df[col])):
            continue
        values = df[col].dropna().astype(str)
        hits = values.map(is_pii).sum()
        if len(values) and hits / len(values) >= 0.5:
            drop.append(col)
    t2 = time.time()
    key = b"benchmark key"
    if "customer_id" in df.columns:
        df["customer_id"] = df["customer_id"].map(lambda v: "p_" + hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()[:32])
    df = df.drop(columns=drop + [c for c in ("full_name", "street_address", "date_of_birth") if c in df.columns and c not in drop])
    dups = int(df.duplicated().sum())
    df.to_csv(dst, index=False)
    t3 = time.time()
    print(f"pandas: read {t1 - t0:.1f} s, regex PII pass {t2 - t1:.1f} s, pseudonymise+drop+duplicates+write {t3 - t2:.1f} s, total {t3 - t0:.1f} s; dropped {drop}; {dups} duplicate rows")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
