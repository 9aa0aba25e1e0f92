import sqlalchemy as sa

from app.needs.models import Need
from tests import factories

GOOD = "intitulé;code CPV;montant annuel HT;date de début;durée (mois)\nÉlectricité;09310000;1 234,50;01/03/2027;36\n"


def test_needs_import_command_imports_for_the_named_organization(web_app, db, tmp_path):
    dm = factories.organization("DM")
    db.session.commit()
    path = tmp_path / "besoins.csv"
    path.write_bytes(GOOD.encode("cp1252"))
    result = web_app.test_cli_runner().invoke(args=["needs", "import", str(path), "--org", "dm"])
    assert result.exit_code == 0, result.output
    assert "1 need(s) imported" in result.output
    need = db.session.scalar(sa.select(Need))
    assert need.organization_id == dm.id and need.status == "submitted"


def test_needs_import_command_reports_every_bad_row_and_exits_non_zero(web_app, db, tmp_path):
    factories.organization("DM")
    db.session.commit()
    path = tmp_path / "besoins.csv"
    path.write_text(GOOD + "Mauvais;99999999;-5;31/02/2027;0\n", encoding="utf-8")
    result = web_app.test_cli_runner().invoke(args=["needs", "import", str(path), "--org", "DM"])
    assert result.exit_code == 1
    for column in ("cpv_code", "annual_amount_eur", "start_date", "duration_months"):
        assert f"row 3, column {column}" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Need.id))) == 0


def test_needs_import_command_names_an_unknown_organization(web_app, db, tmp_path):
    factories.organization("DM")
    db.session.commit()
    path = tmp_path / "besoins.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = web_app.test_cli_runner().invoke(args=["needs", "import", str(path), "--org", "XYZ"])
    assert result.exit_code != 0 and "Unknown organization code 'XYZ'" in result.output and "DM" in result.output
