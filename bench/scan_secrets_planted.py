#!/usr/bin/env python3
"""Planted-secret recall and precision for `warden scan --secrets` and
detect-secrets: writes DIR/src with one file per planted secret (real token
shapes of the common providers, randomised with a fixed seed) and one per
decoy (placeholders, docs examples, regex source, hashes), then reads each
tool's JSON report and counts planted secrets found (by file) and decoy
files flagged.

Usage: scan_secrets_planted.py gen DIR
       scan_secrets_planted.py score DIR WARDEN_JSON DETECT_SECRETS_JSON
"""
import json
import os
import random
import string
import sys

R = random.Random(20261127)


def rand(alphabet, n):
    return "".join(R.choice(alphabet) for _ in range(n))


AN = string.ascii_letters + string.digits
UP = string.ascii_uppercase + string.digits


def planted():
    return {
        "aws_key.py": f"AWS_ACCESS_KEY_ID = '{'AKIA' + rand(UP, 16)}'\n",
        "aws_secret.env": f"aws_secret_access_key = {rand(AN + '/+', 40)}\n",
        "github.py": f"token = 'ghp_{rand(AN, 36)}'\n",
        "gitlab.yml": f"token: glpat-{rand(AN, 20)}\n",
        "slack.js": f"const t = 'xoxb-{rand(string.digits, 11)}-{rand(string.digits, 12)}-{rand(AN, 24)}';\n",
        "slack_hook.txt": f"https://hooks.slack.com/services/T{rand(UP, 8)}/B{rand(UP, 8)}/{rand(AN, 24)}\n",
        "stripe.rb": f"Stripe.api_key = 'sk_live_{rand(AN, 24)}'\n",
        "openai.py": f"client = OpenAI(api_key='sk-proj-{rand(AN, 40)}T3BlbkFJ{rand(AN, 40)}')\n",
        "hf.sh": f"export HF_TOKEN=hf_{rand(string.ascii_letters, 34)}\n",
        "google.json": f'{{"key": "AIza{rand(AN + "-_", 35)}"}}\n',
        "id_rsa": "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(rand(AN + "+/", 64) for _ in range(6)) + "\n-----END RSA PRIVATE KEY-----\n",
        "jwt.txt": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + rand(AN + "-_", 43) + "\n",
        "db.cfg": f"DATABASE_URL=postgresql://app:{rand(AN, 14)}@db.internal:5432/prod\n",
        "settings.py": f"SECRET_KEY = '{rand(AN + '!@#%^&*', 40)}'\n",
        "config.yaml": f"api_key: \"{rand(AN, 32)}\"\n",
    }


def decoys():
    return {
        "readme.md": "Set `api_key = \"your-api-key-here\"` and `password = \"changeme\"`.\n",
        "example.env": "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nDATABASE_URL=postgres://user:${DB_PASSWORD}@localhost/app\n",
        "hashes.py": "SHA = '" + rand("0123456789abcdef", 64) + "'\nUUID = '" + "-".join(rand("0123456789abcdef", n) for n in (8, 4, 4, 4, 12)) + "'\n",
        "regex.py": "PATTERN = r'-----BEGIN RSA PRIVATE KEY-----'\nif line.startswith('-----BEGIN PRIVATE KEY-----'):\n    pass\n",
        "forms.py": "password_field = 'password_confirmation'\ntoken_type = 'bearer'\n",
        "test_url.py": "url = 'https://user:pass@example.com/path'\n",
    }


def gen(d):
    src = os.path.join(d, "src")
    os.makedirs(src, exist_ok=True)
    for name, text in {**planted(), **decoys()}.items():
        with open(os.path.join(src, name), "w") as f:
            f.write(text)


def score(d, warden_json, ds_json):
    p, dec = set(planted()), set(decoys())
    w = json.load(open(warden_json))
    w_files = {os.path.basename(f["path"]) for f in w["files"] if f["findings"]}
    ds = json.load(open(ds_json))
    ds_files = {os.path.basename(k) for k, v in ds["results"].items() if v}
    for tool, hit in (("warden scan --secrets", w_files), ("detect-secrets", ds_files)):
        print(f"  {tool:<22} planted found {len(hit & p):>2}/{len(p)}   decoy files flagged {len(hit & dec)}/{len(dec)}   missed: {', '.join(sorted(p - hit)) or '-'}")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    else:
        score(sys.argv[2], sys.argv[3], sys.argv[4])
