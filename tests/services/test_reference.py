from app.reference.services import search_cpv, unknown_codes


def test_search_ignores_accents_and_case(session):
    with_accents = [c.code for c in search_cpv(session, "ÉLECTRICITÉ", limit=50)]
    without = [c.code for c in search_cpv(session, "electricite", limit=50)]
    assert "09310000" in with_accents and with_accents == without


def test_search_needs_every_word_and_puts_general_codes_first(session):
    results = search_cpv(session, "nettoyage bureaux", limit=20)
    assert results and all("nettoyage" in c.search_fr and "bureaux" in c.search_fr for c in results)
    levels = [c.level for c in search_cpv(session, "nettoyage", limit=20)]
    order = ["division", "group", "class", "category", "subcategory"]
    assert levels == sorted(levels, key=order.index)


def test_search_by_code_prefix_with_or_without_check_digit(session):
    assert [c.code for c in search_cpv(session, "0931", limit=3)][0] == "09310000"
    assert [c.code for c in search_cpv(session, "09310000-5")] == ["09310000"]


def test_search_finds_words_of_either_language_but_not_mixed(session):
    english = [c.code for c in search_cpv(session, "cleaning services", lang="fr", limit=50)]
    french = [c.code for c in search_cpv(session, "services de nettoyage", lang="en", limit=50)]
    assert "90910000" in english and "90910000" in french
    assert search_cpv(session, "nettoyage services cleaning", limit=50) == []  # one label has every word


def test_search_limit_is_bounded(session):
    assert len(search_cpv(session, "0", limit=10_000)) == 50
    assert len(search_cpv(session, "", limit=5)) == 5  # divisions to start browsing


def test_search_treats_like_wildcards_literally(session):
    assert search_cpv(session, "%") == []
    assert search_cpv(session, "_lectricit_") == []


def test_unknown_codes_names_the_codes_that_do_not_exist(session):
    assert unknown_codes(session, ["09310000", "09310000-5", "12345678"]) == ["12345678"]
