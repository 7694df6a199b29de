"""`ancre issuer offer --from rows.csv`: every row checked first (all bad rows reported by
line number, nothing created), one offer per row with a progress bar on stderr, and a
re-run that creates nothing new (a row key maps to its offer)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from _issuer_support import ancre_cli, open_issuer
from sqlalchemy import func, select

from ancre.issuer.csv_offers import check_rows, create_offers, parse_rows
from ancre.issuer.db import OfferRow
from ancre.issuer.schemes import parse_schemes
from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock

HEADER = (
    "key,ancre:scheme,ancre:level,ancre:scope,ancre:certificateNumber,ancre:certificateValidFrom"
)
GOOD = [
    'c-1,ISO/IEC 27001:2022,,"Hébergement, infogérance",FR-1,2026-01-01',
    "c-2,SecNumCloud 3.2,qualified,IaaS,FR-2,2026-02-01",
    "c-3,HDS 2.0,,Hébergement de données de santé,FR-3,2026-03-01",
]
OPERATOR = Authorization("operator", "alice")


#: The agency's certification schemes (issuer/schemes.py): the rows may name only these.
SCHEMES = {
    "schemes": [
        {"name": "ISO/IEC 27001:2022", "validity_days": 1095},
        {"name": "SecNumCloud 3.2", "levels": ["qualified"], "validity_days": 365},
        {"name": "HDS 2.0", "validity_days": 1095},
    ]
}


def _init(folder: Path) -> None:
    done = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:localhost%3A9")
    assert done.returncode == 0, done.stderr
    (folder / "schemes.json").write_text(json.dumps(SCHEMES))


def _offers(folder: Path) -> int:
    issuer = open_issuer(folder)
    with issuer._read() as session:
        count = int(session.execute(select(func.count()).select_from(OfferRow)).scalar_one())
    issuer.engine.dispose()
    return count


def _offer(folder: Path, csv_file: Path, *extra: str) -> Any:
    return ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "Certification",
        "--from", str(csv_file), *extra,
    )  # fmt: skip


def test_one_offer_per_row_and_a_rerun_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    _init(folder)
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    first = _offer(folder, rows, "--tx-code", "--json")
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert [(o["line"], o["key"], o["state"]) for o in created] == [
        (2, "c-1", "created"),
        (3, "c-2", "created"),
        (4, "c-3", "created"),
    ]
    assert all(o["offer_uri"].startswith("openid-credential-offer://?") for o in created)
    assert all(len(o["tx_code"]) == 6 for o in created)
    assert "3/3" in first.stderr  # the progress bar, on stderr
    assert _offers(folder) == 3

    again = _offer(folder, rows, "--tx-code", "--json")
    assert again.returncode == 0, again.stderr
    repeated = json.loads(again.stdout)
    assert [o["state"] for o in repeated] == ["existing"] * 3
    assert [o["offer_id"] for o in repeated] == [o["offer_id"] for o in created]
    assert [o["offer_uri"] for o in repeated] == [o["offer_uri"] for o in created]
    assert [o["tx_code"] for o in repeated] == [None] * 3  # shown once, kept hashed
    assert _offers(folder) == 3

    # Same key, other claims: refused, nothing created.
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join([HEADER, GOOD[0].replace("FR-1", "FR-9")]) + "\n")
    refused = _offer(folder, changed)
    assert refused.returncode == 65
    assert "line 2: the row key 'c-1' was offered before with other claims" in refused.stderr
    assert _offers(folder) == 3


def test_every_bad_row_is_reported_and_nothing_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "agency"
    _init(folder)
    rows = tmp_path / "rows.csv"
    lines = [
        HEADER,
        GOOD[0],
        "c-2,SecNumCloud 3.2,,IaaS,,2026-02-01",  # line 3: no certificate number
        'c-3,HDS 2.0,{"not": json,scope,FR-3,2026-03-01',  # line 4: a JSON cell that is not
        "c-4,too,few",  # line 5: 3 cells
        GOOD[1].replace("c-2", "c-1"),  # line 6: the key of line 2 again
        GOOD[2],
    ]
    rows.write_text("\n".join(lines) + "\n")
    done = _offer(folder, rows)
    assert done.returncode == 65
    stderr: str = done.stderr
    for line, why in (
        (3, "ancre:certificateNumber"),
        (4, "not strict JSON"),
        (5, "3 cells, the header has 6"),
        (6, "repeats line 2"),
    ):
        assert f"line {line}: " in stderr, stderr
        assert why in stderr.split(f"line {line}: ")[1].splitlines()[0], stderr
    assert "line 2:" not in stderr
    assert "line 7:" not in stderr
    assert "4 invalid row(s): nothing offered" in stderr
    assert _offers(folder) == 0

    skipped = _offer(folder, rows, "--skip-invalid", "--json")
    assert skipped.returncode == 1  # not a complete success
    offered = json.loads(skipped.stdout)
    assert [(o["line"], o["state"]) for o in offered] == [(2, "created"), (7, "created")]
    assert _offers(folder) == 2


def test_unreadable_files(tmp_path: Path) -> None:
    assert parse_rows(b"")[1][0].message.startswith("the file is empty")
    assert "not UTF-8" in parse_rows(b"\xff\xfe")[1][0].message
    assert "once" in parse_rows(b"a,a\n1,2\n")[1][0].message
    rows, errors = parse_rows(b'\xef\xbb\xbfkey,x\nk,"{""a"": 1}"\n\n')
    assert errors == []
    assert [(r.line, r.key, r.claims) for r in rows] == [(2, "k", {"x": {"a": 1}})]
    # Without a key column the key is the claims' hash: stable across runs.
    one, _ = parse_rows(b"x\n1\n")
    two, _ = parse_rows(b"x\n1\n")
    assert one[0].key == two[0].key
    assert len(one[0].key) == 64


def test_an_expired_offer_is_renewed_and_an_issued_one_reported(tmp_path: Path) -> None:
    from _issuer_support import make_issuer

    clock = FixedClock(SystemClock().now())
    issuer: Issuer = make_issuer(tmp_path / "agency", 9, clock=clock)
    issuer.schemes = parse_schemes(SCHEMES)
    rows, errors = parse_rows(("\n".join([HEADER, *GOOD[:2]]) + "\n").encode())
    assert errors == []
    assert check_rows(issuer, "Certification", rows, OPERATOR) == []
    first = create_offers(issuer, "Certification", rows, authorization=OPERATOR)
    # The first row's offer is redeemed and issued; the second's expires unredeemed.
    from ancre.issuer.service import holder_from_key
    from ancre.trust.keys.jwk import PrivateKey

    grant = issuer.redeem(_code(issuer, first[0].offer_id), None)
    assert grant.configuration_id == "Certification"
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    issued = issuer.issue_for_token(grant.access_token, "Certification", holder)
    clock.advance(timedelta(seconds=issuer.config.limits.offer_lifetime + 1))
    again = create_offers(issuer, "Certification", rows, authorization=OPERATOR)
    assert (again[0].state, again[0].credential_id) == ("issued", issued.id)
    assert again[1].state == "renewed"
    assert again[1].offer_id != first[1].offer_id
    third = create_offers(issuer, "Certification", rows, authorization=OPERATOR)
    assert [o.state for o in third] == ["issued", "existing"]
    assert third[1].offer_id == again[1].offer_id


def _code(issuer: Issuer, offer_id: str) -> str:
    with issuer._read() as session:
        offer = session.get(OfferRow, offer_id)
        assert offer is not None
        assert offer.code is not None
        return offer.code
