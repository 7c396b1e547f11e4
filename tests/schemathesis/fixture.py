#!/usr/bin/env python3
"""A small world made through the API, so schemathesis' cases reach handlers with real ids.

Usage: fixture.py BASE_URL LINLI_BINARY OUT_DIR

The server must run in development mode (`dev:<name>` logins). The platform admin is granted
with `linli admin grant` (the binary, with the server's environment). Writes to OUT_DIR:
`tokens.env` (bearer tokens: ADMIN, RESIDENT, STAFF, and THROWAWAY and LEAVER, residents whose
login the run ends) and `schemathesis.toml` (the
real ids as dictionaries that path parameters draw from most of the time).
Only the standard library: it runs before any virtualenv matters.
"""

import datetime
import json
import subprocess
import sys
import urllib.error
import urllib.request

BASE, LINLI, OUT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
API = BASE + "/api/v1"

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
    b"\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


def call(method, path, token=None, body=None, raw=None, content_type=None, key=None):
    data, headers = None, {}
    if key:
        headers["idempotency-key"] = key
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if raw is not None:
        data, headers["content-type"] = raw, content_type
    if token:
        headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if status not in (200, 201, 204):
        sys.exit(f"fixture: {method} {path} answered {status}: {text}")
    return json.loads(text) if text else None


def login(name):
    return call("POST", "/auth/login", body={"code": f"dev:{name}"})["access_token"]


def multipart(field, filename, mime, payload):
    boundary = "linli-fixture-boundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
        f"filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
    ).encode()
    return head + payload + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def main():
    me = lambda token: call("GET", "/me", token)["profile"]  # noqa: E731
    login("admin")
    subprocess.run(
        [LINLI, "admin", "grant", "--openid", "dev_admin", "--role", "platform_admin"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    admin = login("admin")
    district = call("POST", "/districts", admin, {"name": "盘龙区"})["id"]
    street = call("POST", f"/districts/{district}/streets", admin, {"name": "拓东街道"})["id"]
    community = call("POST", f"/streets/{street}/communities", admin, {"name": "阳光社区"})["id"]
    grid = call("POST", f"/communities/{community}/grids", admin, {"name": "一网格"})["id"]
    building = call(
        "POST", f"/communities/{community}/buildings", admin, {"name": "3栋", "grid_id": grid}
    )["id"]
    household = call(
        "POST",
        f"/communities/{community}/households",
        admin,
        {"building_id": building, "unit": "2单元", "room": "501"},
    )["id"]

    def resident(name):
        token = login(name)
        membership = call("POST", f"/communities/{community}/join", token)["membership_id"]
        call(
            "POST",
            f"/communities/{community}/memberships/{membership}/approve",
            admin,
            {},
        )
        return token, membership, me(token)["id"]

    alice, alice_membership, alice_id = resident("alice")
    throwaway, _, _ = resident("throwaway")
    leaver, _, _ = resident("leaver")
    pending = login("pending")
    pending_membership = call("POST", f"/communities/{community}/join", pending)["membership_id"]

    body, ctype = multipart("file", "p.png", "image/png", PNG)
    upload = call("POST", f"/communities/{community}/uploads", alice, raw=body, content_type=ctype)
    due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).isoformat()
    wish = call(
        "POST",
        f"/communities/{community}/wishes",
        alice,
        {
            "title": "想要一台收音机",
            "description": "独居多年，想听听戏曲节目。",
            "category": "生活用品",
            "estimated_cost": 80,
            "beneficiary_group": "独居老人",
            "beneficiary_name": "王小明",
            "contact_phone": "13800001234",
            "address": "阳光小区3栋2单元501",
            "due_at": due,
            "photo_upload_ids": [upload["id"]],
        },
    )
    wish = call("POST", f"/wishes/{wish['id']}/approve", admin, {"updated_at": wish["updated_at"]})
    code = call(
        "POST", f"/communities/{community}/codes", admin, {"purpose": "join_community", "valid_days": 30}
    )["scene"]
    share = call("POST", f"/wishes/{wish['id']}/share-code", alice)["scene"]

    merchant = call(
        "POST",
        f"/communities/{community}/merchants",
        admin,
        {"name": "老王杂货铺", "address": "拓东路1号", "category": "便利店", "contact": "13800001111"},
    )["id"]
    offer = call(
        "POST", f"/merchants/{merchant}/offers", admin, {"name": "酱油一瓶", "price": 10, "stock": 100}
    )["id"]
    invite = call("POST", f"/merchants/{merchant}/invites", admin)["code"]
    staff = login("cashier")
    call("POST", "/merchant/staff/join", staff, {"code": invite})
    call(
        "POST",
        f"/communities/{community}/points/adjustments",
        admin,
        {"user_id": alice_id, "amount": 100, "reason": "志愿服务"},
        key="fixture-award",
    )
    pay_code = call("GET", f"/me/pay-code?community_id={community}", alice)["code"]
    redemption = call(
        "POST",
        "/merchant/redemptions",
        staff,
        {"merchant_id": merchant, "pay_code": pay_code, "offer_id": offer},
        key="fixture-sale",
    )["redemption_id"]
    unit = call(
        "POST",
        f"/streets/{street}/pair-units",
        admin,
        {"name": "市供电局", "contact": "13800002222", "annual_quota": 10, "community_ids": [community]},
    )["id"]
    grant = call(
        "POST",
        "/role-grants",
        admin,
        {"user_id": alice_id, "role": "building_leader", "scope_id": community},
    )["id"]
    month = datetime.date.today().strftime("%Y-%m")
    # A cursor is opaque to clients; a page's real one (any id works) keeps generated ones,
    # which the server rightly refuses, out of the valid cases.
    call("POST", f"/communities/{community}/buildings", admin, {"name": "4栋"})
    cursor = call("GET", f"/communities/{community}/buildings?limit=1", admin)["next_cursor"]

    with open(f"{OUT}/tokens.env", "w") as f:
        f.write(
            f"ADMIN={admin}\nRESIDENT={alice}\nSTAFF={staff}\n"
            f"THROWAWAY={throwaway}\nLEAVER={leaver}\n"
        )
    ids = {
        "community_id": [community],
        "district_id": [district],
        "street_id": [street],
        "membership_id": [alice_membership, pending_membership],
        "wish_id": [wish["id"]],
        "merchant_id": [merchant],
        "offer_id": [offer],
        "redemption_id": [redemption],
        "unit_id": [unit],
        "user_id": [alice_id],
        "grant_id": [grant],
        "upload_id": [upload["id"]],
        "scene": [code, share],
        "month": [month],
    }
    # Most cases use a real id so they get past the 404 and into the handler; the rest are
    # generated, which keeps the negative cases on the parameters themselves.
    lines = []
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values, ensure_ascii=False)}\n")
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.8 }}')
    lines.insert(0, f"[dictionaries.cursor]\nvalues = [{json.dumps(cursor)}]\n")
    lines.append('"query.cursor" = { dictionary = "cursor", probability = 1.0 }')
    with open(f"{OUT}/ids.toml", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"fixture: community {community}, wish {wish['id']}, merchant {merchant}, household {household}")


main()
