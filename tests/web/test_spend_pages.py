import csv
import html
import io
import json
import re

import openpyxl
import pytest
import sqlalchemy as sa

from app.spend import services
from app.spend.models import SpendImport, SpendImportJob
from tests import factories
from tests.conftest import csrf_from, login, post_form
from tests.factories import DECP_SAMPLE as DECP
from tests.factories import LEDGER_HEADER as HEADER

EVIL = HEADER + (
    '01/02/2025;@SUM(1+1);;30192000;100,00;=HYPERLINK("http://evil.example","clic");21000\n'
    "02/02/2025;+33 Fournitures;;30192000;50,00;-2+3;21000\n"
)


@pytest.fixture
def people(db):
    # DM holds the SIRET of the buyer of the DECP sample, whose records its buyer imports.
    dm = factories.organization("DM", name="Dijon Métropole", siret=factories.DECP_SAMPLE_BUYER)
    chu = factories.organization("CHU")
    users = {
        "dm": factories.user("buyer", email="dm@x.fr", organization_=dm),
        "chu": factories.user("buyer", email="chu@x.fr", organization_=chu),
        "coord": factories.user("coordinator", email="coord@x.fr"),
        "admin": factories.user("admin", email="admin@x.fr"),
        "sup": factories.user("supplier", email="sup@x.fr"),
    }
    db.session.commit()
    return {"DM": dm, "CHU": chu, **users}


@pytest.fixture(autouse=True)
def _english(client):
    """These tests read the English interface (the French one is checked by the translation tests)."""
    client.get("/lang/en")


def _upload(client, data: bytes, name="depenses.csv", **fields):
    token = csrf_from(client.get("/spend/imports").get_data(as_text=True))
    return client.post(
        "/spend/imports",
        data={"csrf_token": token, "file": (io.BytesIO(data), name), **fields},
        content_type="multipart/form-data",
    )


def _import(session, actor, data, name="d.csv", **kw):
    record = services.import_spend(session, actor, data, name, **kw)
    session.commit()
    return record


@pytest.mark.parametrize("email", ["dm@x.fr", "coord@x.fr", "admin@x.fr"])
def test_the_spend_pages_open_for_buyers_coordinators_and_admins(client, people, email):
    login(client, email)
    for url in ("/spend", "/spend?level=class", "/spend/impact", "/spend/imports"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/spend").get_data(as_text=True)
    assert "vendor/chartjs/chart.umd.min.js" in page and "cdn" not in page.lower()


def test_suppliers_see_no_spend_page_and_only_admins_edit_the_mapping(new_client, people):
    supplier, coordinator, admin = new_client(), new_client(), new_client()
    login(supplier, "sup@x.fr")
    for url in ("/spend", "/spend/impact", "/spend/imports", "/spend/export/categories.csv", "/spend/emission-mapping"):
        assert supplier.get(url).status_code == 403, url
    login(coordinator, "coord@x.fr")
    assert coordinator.get("/spend/emission-mapping").status_code == 403
    login(admin, "admin@x.fr")
    assert admin.get("/spend/emission-mapping").status_code == 200


def test_upload_preview_then_confirm_imports_the_lines(client, people, db):
    login(client, "dm@x.fr")
    response = _upload(client, DECP.read_bytes(), DECP.name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "272 lines are ready to import for DM" in page and "several suppliers" in page
    assert factories.stored_line_count() == 0  # nothing before confirming
    token = re.search(r"/spend/imports/([\w-]+)/confirm", page).group(1)
    confirmed = post_form(client, f"/spend/imports/{token}/confirm", {}, page="/spend/imports")
    assert confirmed.status_code == 302
    assert factories.stored_line_count() == 272
    history = client.get("/spend/imports").get_data(as_text=True)
    assert DECP.name in history and "DECP" in history
    duplicate = _upload(client, DECP.read_bytes(), "again.csv")
    assert "already imported" in duplicate.get_data(as_text=True)


def test_open_data_goes_in_leniently_and_its_quarantine_is_listed_and_downloadable(client, new_client, people, db):
    login(client, "dm@x.fr")
    data = (factories.DECP_FILES / "decp_1x.json").read_bytes()
    page = _upload(client, data, "decp_1x.json").get_data(as_text=True)
    assert "2 lines are ready to import for DM" in page
    assert "2 record(s) are valid, 4 are quarantined" in page and "6 records in the file" in page
    token = re.search(r"/spend/imports/([\w-]+)/confirm", page).group(1)
    assert post_form(client, f"/spend/imports/{token}/confirm", {}, page="/spend/imports").status_code == 302
    record = db.session.scalar(sa.select(SpendImport))
    assert (record.line_count, record.quarantined_count) == (2, 4)
    history = client.get("/spend/imports").get_data(as_text=True)
    assert f"/spend/imports/{record.id}/quarantine" in history and "4 quarantined" in history

    listing = client.get(f"/spend/imports/{record.id}/quarantine").get_data(as_text=True)
    assert "2 record(s) imported, 0 already imported from another file, 4 quarantined: 6 records in the file" in listing
    assert "00000000" in listing and "20190012" in listing and "excl. VAT" in listing
    body = client.get(f"/spend/imports/{record.id}/quarantine.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Row", "Field", "Reason"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("4", "codecpv", "20190011"),
        ("5", "montant", "20190012"),
        ("6", "datenotification", "20190013"),
        ("7", "datenotification", "20190014"),
    ]
    # Another organization's quarantine is not found.
    other = new_client()
    login(other, "chu@x.fr")
    assert other.get(f"/spend/imports/{record.id}/quarantine").status_code == 404
    assert other.get(f"/spend/imports/{record.id}/quarantine.csv").status_code == 404


def test_a_quarantine_download_neutralises_formulas(client, people, db):
    evil = {
        "marches": [
            {
                "id": '=HYPERLINK("http://evil.example","x")',
                "acheteur": {"id": factories.DECP_SAMPLE_BUYER},
                "codeCPV": "00000000",
                "montant": "+1+2",
                "dateNotification": "2024-01-02",
                "titulaires": [{"id": "49047296600012", "typeIdentifiant": "SIRET"}],
            },
            {
                "id": "ok",
                "acheteur": {"id": factories.DECP_SAMPLE_BUYER},
                "codeCPV": "30192000-1",
                "montant": 10,
                "dateNotification": "2024-01-02",
                "titulaires": [{"id": "49047296600012", "typeIdentifiant": "SIRET"}],
            },
        ]
    }
    record = _import(db.session, people["dm"], json.dumps(evil).encode(), "evil.json")
    login(client, "dm@x.fr")
    body = client.get(f"/spend/imports/{record.id}/quarantine.csv").get_data(as_text=True)
    row = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))[1]
    assert row[3] == '\'=HYPERLINK("http://evil.example","x")' and row[5] == "'+1+2"


def test_a_bad_file_shows_every_problem_and_a_report(client, people, db):
    login(client, "dm@x.fr")
    bad = HEADER + "31/02/2025;X;;99999999;-4;;\n"
    page = _upload(client, bad.encode()).get_data(as_text=True)
    assert "import-problems" in page and "99999999" in page
    token = re.search(r"/spend/imports/([\w-]+)/report\.csv", page).group(1)
    report = client.get(f"/spend/imports/{token}/report.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(report.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 4 and {r[0] for r in rows[1:]} == {"2"}
    assert db.session.scalar(sa.select(sa.func.count(SpendImport.id))) == 0


def test_a_coordinator_chooses_the_organization(client, people, db):
    login(client, "coord@x.fr")
    page = _upload(client, EVIL.encode(), organization="CHU").get_data(as_text=True)
    assert "2 lines are ready to import for CHU" in page
    missing = _upload(client, EVIL.encode()).get_data(as_text=True)
    assert "Choose the organization the spend belongs to." in missing


def test_exports_neutralise_formulas_in_csv_and_xlsx(client, people, db):
    client.get("/lang/fr")  # French exports: decimal commas
    _import(db.session, people["dm"], EVIL.encode())
    login(client, "dm@x.fr")
    text = client.get("/spend/export/lines.csv?prefix=30").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'@SUM(1+1)" in cells and "'+33 Fournitures" in cells and "'-2+3" in cells
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert "100,00" in cells  # French decimal comma

    body = client.get("/spend/export/lines.xlsx?prefix=30").data
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    values = [cell.value for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None]
    texts = [v for v in values if isinstance(v, str)]
    assert "'@SUM(1+1)" in texts and not any(v.startswith(("=", "+", "@", "-")) for v in texts)
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert 100.0 in values  # amounts stay numbers

    for kind in ("categories", "local", "carbon", "savings"):
        for fmt in ("csv", "xlsx"):
            response = client.get(f"/spend/export/{kind}.{fmt}")
            assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")


def test_the_spend_lines_of_a_category_are_paged_with_the_shared_pager(client, people, db):
    line = "{:02d}/03/2025;Fournisseur {};;30192000;{},00;Fournitures {};21000\n"
    rows = "".join(line.format(d % 28 + 1, d, d + 1, d) for d in range(60))
    _import(db.session, people["dm"], (HEADER + rows).encode())
    login(client, "coord@x.fr")
    first = client.get("/spend?prefix=30192").get_data(as_text=True)
    assert first.count('rel="next"') == 1 and 'rel="prev"' not in first
    next_url = re.search(r'<a class="page-link" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "page=2" in next_url and next_url.endswith("#lines") and "prefix=30192" in next_url
    second = client.get(next_url.split("#")[0]).get_data(as_text=True)
    assert 'rel="prev"' in second and 'aria-current="page"><span class="page-link">2<' in second


def test_the_map_drills_down_to_the_lines_with_tables_beside_the_charts(client, new_client, people, db):
    _import(db.session, people["dm"], EVIL.encode())
    _import(db.session, people["chu"], (HEADER + "01/02/2024;Y;;45210000;900,00;Travaux;25000\n").encode())
    login(client, "coord@x.fr")
    page = client.get("/spend?lang=en").get_data(as_text=True)
    assert 'data-chart-table="chart-categories"' in page and 'data-chart-table="chart-years"' in page
    assert 'data-prefix="30"' in page and 'data-prefix="45"' in page
    drilled = client.get("/spend?prefix=30").get_data(as_text=True)
    assert 'data-prefix="301"' in drilled and "lines-table" in drilled and "@SUM(1+1)" in drilled
    leaf = client.get("/spend?prefix=30192&year=2025")
    assert leaf.status_code == 200 and "lines-table" in leaf.get_data(as_text=True)
    assert client.get("/spend?year=nineteen").status_code == 400
    # digits int() cannot read, a year beyond any column, a prefix of superscript digits: refused, never a 500
    for query in ("year=%C2%B2%E2%81%B0", f"year={10**30}", "prefix=%C2%B2%C2%B2"):
        assert client.get(f"/spend?{query}").status_code == 400, query
    buyer = new_client()
    login(buyer, "dm@x.fr")
    own = buyer.get("/spend").get_data(as_text=True)
    assert 'data-prefix="30"' in own and 'data-prefix="45"' not in own
    assert buyer.get("/spend?organization=CHU").status_code == 403


def test_the_impact_page_shows_the_caveat_source_and_assumptions(client, people, db):
    _import(db.session, people["dm"], EVIL.encode())
    login(client, "coord@x.fr")
    page = client.get("/spend/impact").get_data(as_text=True)
    for text in ("An estimate, not a measurement.", "ADEME", "Mutualis assumptions", "21850", "chart-local"):
        assert text in page, text
    assert "app/data" not in page and ".csv)" not in page  # no internal file path


def test_the_impact_page_in_french_gives_the_savings_assumptions_in_french(client, people, db):
    _import(db.session, people["dm"], EVIL.encode())
    login(client, "coord@x.fr")
    client.get("/lang/fr")
    page = html.unescape(client.get("/spend/impact").get_data(as_text=True))
    assert "Hypothèses de Mutualis" in page
    assert "Par défaut, pour toute division sans ligne propre" in page and "Énergie : un volume plus grand" in page
    assert "Default for any division" not in page and "Energy: a larger volume" not in page
    assert "app/data" not in page and "savings_assumptions" not in page


def test_an_admin_changes_a_division_category_and_rolls_an_import_back(client, people, db):
    record = _import(db.session, people["dm"], EVIL.encode())
    login(client, "admin@x.fr")
    response = post_form(
        client,
        "/spend/emission-mapping",
        {"division": "30", "category_key": "paper_and_cardboard", "note": "mostly paper here"},
    )
    assert response.status_code == 302
    assert services.emission_mapping(db.session)["30"].category_key == "paper_and_cardboard"
    assert "changed" in client.get("/spend/emission-mapping").get_data(as_text=True)

    rolled = post_form(client, f"/spend/imports/{record.id}/rollback", {}, page="/spend/imports")
    assert rolled.status_code == 302
    db.session.expire_all()
    assert db.session.get(SpendImport, record.id).rolled_back_at is not None
    assert factories.stored_line_count() == 0


def test_the_quarantine_page_of_a_rolled_back_import_says_its_records_went_with_it(client, people, db):
    record = services.import_spend(
        db.session, people["dm"], (factories.DECP_FILES / "decp_1x.json").read_bytes(), "decp_1x.json"
    )
    services.rollback_import(db.session, people["admin"], record.id)
    db.session.commit()
    login(client, "dm@x.fr")
    page = client.get(f"/spend/imports/{record.id}/quarantine").get_data(as_text=True)
    assert "4 quarantined: 6 records in the file" in page
    assert "removed with the rollback of this import" in page and "No record is quarantined" not in page


def test_buyers_cannot_roll_back(client, people, db):
    record = _import(db.session, people["dm"], EVIL.encode())
    login(client, "dm@x.fr")
    assert post_form(client, f"/spend/imports/{record.id}/rollback", {}, page="/spend/imports").status_code == 403


# --- large files: imported in the background by the scheduler's job --------------------------------------------


def _ledger_rows(count: int, amount: str = "10,00") -> bytes:
    rows = "".join(f"{1 + n % 28:02d}/02/2025;Papeterie {n};;30192000;{amount};Lot {n};21000\n" for n in range(count))
    return (HEADER + rows).encode("utf-8")


@pytest.fixture
def background(web_app, monkeypatch):
    """Files above 500 bytes go to the background; the scheduler's job function runs in the web app."""
    from app.jobs import scheduler

    monkeypatch.setitem(web_app.config, "SPEND_SYNC_IMPORT_BYTES", 500)
    monkeypatch.setattr(scheduler, "_app", web_app)


def test_a_large_upload_is_imported_by_the_scheduler_job_while_the_page_shows_its_progress(
    client, people, db, background
):
    from app.jobs import tasks

    login(client, "dm@x.fr")
    queued = _upload(client, _ledger_rows(40))
    assert queued.status_code == 302 and "/spend/imports/jobs/" in queued.location
    page = client.get(queued.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<meta http-equiv="refresh" content="2">' in html
    assert "<progress" in html and "Waiting for its turn" in html and "<script" not in html.split("</head>")[0]
    status = client.get(queued.location + ".json").get_json()
    assert status["status"] == "queued" and status["rows_estimate"] == 40 and status["percent"] == 0
    assert factories.stored_line_count() == 0

    assert tasks.run_spend_imports() == 1
    status = client.get(queued.location + ".json").get_json()
    assert status["status"] == "done" and status["percent"] == 100 and status["rows_read"] == 40
    done = client.get(queued.location).get_data(as_text=True)
    assert "40 spend lines imported for DM" in done and 'http-equiv="refresh"' not in done
    db.session.expire_all()
    assert factories.stored_line_count() == 40
    assert tasks.run_spend_imports() == 0  # a job runs once


def test_an_import_left_running_by_a_stopped_scheduler_is_queued_again_and_then_runs(client, people, db, background):
    from app.jobs import scheduler, tasks
    from app.spend.models import SpendImportJob

    login(client, "dm@x.fr")
    queued = _upload(client, _ledger_rows(40))
    # The scheduler that claimed the job was killed in the middle of the import: its transaction went with it.
    db.session.execute(sa.update(SpendImportJob).values(status="running"))
    db.session.commit()
    assert tasks.run_spend_imports() == 0  # a running job is never claimed twice
    assert scheduler.requeue_interrupted_imports(scheduler.job_app()) == 1
    assert client.get(queued.location + ".json").get_json()["status"] == "queued"
    assert tasks.run_spend_imports() == 1
    assert client.get(queued.location + ".json").get_json()["status"] == "done"
    db.session.expire_all()
    assert factories.stored_line_count() == 40


def test_a_large_file_with_a_bad_row_imports_nothing_and_the_page_lists_the_row(client, people, db, background):
    from app.jobs import tasks

    login(client, "dm@x.fr")
    data = _ledger_rows(40) + b"03/02/2025;X;;30192000;-5;;21000\n"
    queued = _upload(client, data)
    assert tasks.run_spend_imports() == 1
    status = client.get(queued.location + ".json").get_json()
    assert status["status"] == "failed" and status["import_id"] is None
    html = client.get(queued.location).get_data(as_text=True)
    # The job runs outside any request: its report is written in the application's language, French.
    assert "Le fichier contient des erreurs" in html and '<td class="text-end">42</td>' in html
    db.session.expire_all()
    assert factories.stored_line_count() == 0


def test_open_data_imported_in_the_background_links_its_quarantine(client, people, db, background):
    from app.jobs import tasks

    login(client, "dm@x.fr")
    queued = _upload(client, (factories.DECP_FILES / "decp_1x.json").read_bytes(), "decp_1x.json")
    assert "/spend/imports/jobs/" in queued.location
    assert tasks.run_spend_imports() == 1
    record = db.session.scalar(sa.select(SpendImport))
    done = client.get(queued.location).get_data(as_text=True)
    assert "2 spend lines imported for DM" in done
    assert f'href="/spend/imports/{record.id}/quarantine">4 quarantined</a>' in done


def test_a_large_file_already_imported_is_refused_at_once_not_queued(client, people, db, background):
    from app.jobs import tasks

    login(client, "dm@x.fr")
    data = _ledger_rows(40)
    _upload(client, data)
    assert tasks.run_spend_imports() == 1
    again = _upload(client, data)
    assert again.status_code == 409 and "already imported for DM" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(SpendImportJob.id))) == 1
    assert tasks.run_spend_imports() == 0


def test_only_who_queued_the_import_and_administrators_follow_it(client, new_client, people, background):
    login(client, "dm@x.fr")
    queued = _upload(client, _ledger_rows(40))
    other = new_client()
    other.get("/lang/en")
    login(other, "chu@x.fr")
    assert other.get(queued.location).status_code == 404
    assert other.get(queued.location + ".json").status_code == 404
    admin = new_client()
    login(admin, "admin@x.fr")
    assert admin.get(queued.location + ".json").status_code == 200


def test_the_impact_page_lists_the_largest_shared_categories_only(client, db):
    orgs = [factories.organization(code) for code in ("DM", "CHU", "UB")]
    factories.bulk_spend_cells(orgs, 150, cpvs=tuple(f"{n:05d}" for n in range(3000, 3250, 5)))  # 50 categories
    coordinator = factories.user("coordinator", email="pool@x.fr", organization_=orgs[0])
    db.session.commit()
    largest = [r.prefix for r in services.spend_map(db.session, coordinator, level="category").rows if r.shared]
    login(client, "pool@x.fr")
    page = client.get("/spend/impact?level=category").get_data(as_text=True)
    shown = re.findall(r'<code class="cpv-prefix">(\d+)</code>', page.split("two organizations or more")[-1])
    assert len(largest) == 50 and shown == largest[:20]
    assert re.search(r'data-shared-count="50">[^<]*\b20\b[^<]*\b50\b', page)


def test_the_category_table_shows_a_page_of_categories(client, db, query_counter):
    """At the category level a ledger has thousands of categories: the table lists 50 a page (the largest first),
    with the same statements whatever the number of categories."""
    from app.spend.views import CATEGORIES_PER_PAGE
    from tests.conftest import english

    orgs = [factories.organization(code) for code in ("DM", "CHU")]
    factories.user("coordinator", email="coord@x.fr")
    db.session.commit()
    english(client, "coord@x.fr")
    cpvs = [f"{30100 + n:05d}" for n in range(120)]
    factories.bulk_spend_cells(orgs, 10, cpvs=cpvs[:3])
    db.session.commit()
    with query_counter() as few:
        client.get("/spend?level=category")
    factories.bulk_spend_cells(orgs, 500, cpvs=cpvs)
    db.session.commit()
    with query_counter() as many:
        first = client.get("/spend?level=category").get_data(as_text=True)
    assert many.value == few.value
    rows = re.findall(r'<tr data-prefix="(\d+)"', first)
    assert len(rows) == CATEGORIES_PER_PAGE and "Categories 1–50 of 120" in first
    second = client.get("/spend?level=category&categories_page=3").get_data(as_text=True)
    rest = re.findall(r'<tr data-prefix="(\d+)"', second)
    assert len(rest) == 20 and not set(rows) & set(rest)
