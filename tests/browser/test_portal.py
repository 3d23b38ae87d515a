"""The portal as each role meets it, in English and Spanish, against `serve --development` over the
demo data and the default policy."""

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from conftest import ROLES, screenshot, sections, sign_in, wait_idle

# What the default policy gives each role, as the navigation must show it: the sections, and for
# each entity whether it has rows (a Records view) besides its charts.
EXPECTED = {
    "ATF": {
        "sections": ["overview", "trace", "seizure", "training", "fundingAward", "firearm", "links", "analyses", "measures", "audit"],
        "records": {"trace", "seizure", "training", "fundingAward", "firearm"},
    },
    "ICE": {
        "sections": ["overview", "trace", "seizure", "training", "fundingAward", "firearm", "links", "analyses", "measures", "audit"],
        "records": {"trace", "seizure", "training", "firearm"},
    },
    "CBP": {
        "sections": ["overview", "trace", "seizure", "training", "firearm", "analyses", "measures", "audit"],
        "records": {"seizure", "training", "firearm"},
    },
    "STATE": {
        "sections": ["overview", "trace", "seizure", "training", "fundingAward", "analyses", "measures", "audit"],
        "records": {"training", "fundingAward"},
    },
    "OVERSIGHT": {
        "sections": ["overview", "trace", "seizure", "training", "fundingAward", "analyses", "measures", "audit"],
        "records": set(),
    },
}

CHART_FIGURES = {
    "trace": ["traces-by-year-source", "traces-by-state", "median-time-to-crime"],
    "seizure": ["seizures-by-year-port"],
    "training": ["trainings-by-year-course"],
    "fundingAward": ["funding-by-year-category"],
}

PURPOSE = "HSI case 2026-0001"


def answer_purpose_if_asked(page: Page, purpose: str = PURPOSE) -> None:
    """States a purpose when the portal asks for one (rows of other agencies were withheld)."""
    dialog = page.get_by_role("dialog", name="Purpose of access")
    if dialog.count() and dialog.is_visible():
        dialog.get_by_label("Case number or reason").fill(purpose)
        dialog.get_by_role("button", name="State purpose").click()
        expect(page.locator("#purpose-in-force")).to_contain_text(purpose)
        wait_idle(page)


def figure(page: Page, name: str):
    return page.locator(f'[data-figure="{name}"]')


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_sections_and_dashboards(page: Page, base_url, role):
    sign_in(page, base_url, role)
    expected = EXPECTED[role]
    assert sections(page) == expected["sections"]
    expect(page.locator(".role-badge")).to_have_text(
        {"STATE": "State Department", "OVERSIGHT": "Oversight"}.get(role, role))
    # The overview lists every entity with the access the hub reports.
    expect(page.locator("table.permissions tbody tr")).to_have_count(9)
    screenshot(page, f"{role}-overview")

    for entity, figures in CHART_FIGURES.items():
        if entity not in expected["sections"]:
            continue
        page.goto(f"{base_url}/#/{entity}")
        wait_idle(page)
        for name in figures:
            fig = figure(page, name)
            expect(fig).to_be_visible()
            # A chart is drawn, and the same numbers are in its table.
            expect(fig.locator("canvas")).to_have_count(1)
            fig.get_by_role("button", name="Show as table").click()
            expect(fig.locator("table tbody tr").first).to_be_visible()
            fig.get_by_role("button", name="Show as chart").click()
        records_link = page.locator("nav.subnav a", has_text="Records")
        if entity in expected["records"]:
            expect(records_link).to_have_count(1)
        else:
            expect(records_link).to_have_count(0)
            expect(page.locator("main")).to_contain_text("only as protected aggregates")
        screenshot(page, f"{role}-{entity}-charts")

    for entity in sorted(expected["records"]):
        page.goto(f"{base_url}/#/{entity}/records")
        wait_idle(page)
        answer_purpose_if_asked(page)
        expect(page.locator("table.records")).to_be_visible()
        screenshot(page, f"{role}-{entity}-records")

    for extra in ("analyses", "measures", "audit", "links"):
        if extra in expected["sections"]:
            page.goto(f"{base_url}/#/{extra}")
            wait_idle(page)
            answer_purpose_if_asked(page)
            screenshot(page, f"{role}-{extra}")


def test_cbp_sees_no_funding_anywhere(page: Page, base_url):
    sign_in(page, base_url, "CBP")
    assert "fundingAward" not in sections(page)
    page.goto(f"{base_url}/#/analyses")
    wait_idle(page)
    expect(page.locator('[data-analysis="corridors"]')).to_be_visible()
    expect(page.locator('[data-analysis="funding-outcomes"]')).to_have_count(0)
    # Typing the address of the funding section leads to the overview, not to funding.
    page.goto(f"{base_url}/#/fundingAward")
    expect(page.locator("h1")).to_have_text("Your access")
    expect(page.locator('tr[data-entity="fundingAward"] td').first).to_have_text("None")


def test_state_sees_trace_charts_protected_but_no_trace_rows(page: Page, base_url):
    sign_in(page, base_url, "STATE")
    page.goto(f"{base_url}/#/trace/records")
    wait_idle(page)
    expect(figure(page, "traces-by-year-source")).to_be_visible()
    expect(page.locator("table.records")).to_have_count(0)
    expect(page.locator("nav.subnav")).to_have_count(0)
    note = figure(page, "traces-by-year-source").locator(".protected-note")
    expect(note).to_contain_text("cell key method")
    expect(note).to_contain_text("no count from 1 to 4")
    # Its own funding rows are a table.
    page.goto(f"{base_url}/#/fundingAward/records")
    wait_idle(page)
    expect(page.locator("table.records tbody tr").first).to_be_visible()


def test_suppressed_cells_show_their_bound_with_an_explanation(page: Page, base_url):
    sign_in(page, base_url, "OVERSIGHT")
    page.goto(f"{base_url}/#/seizure")
    wait_idle(page)
    fig = figure(page, "seizures-by-year-port")
    fig.get_by_role("button", name="Show as table").click()
    cells = fig.locator("td.suppressed")
    assert cells.count() > 0, "a protected grid has combinations the hub did not publish"
    first = cells.first
    expect(first).to_contain_text("≤ 5")
    title = first.get_attribute("title")
    assert "at most 5 records" in title and "below 5" in title, title
    # Every Mexican state has a row in the table of traces by state, published or not.
    page.goto(f"{base_url}/#/trace")
    wait_idle(page)
    states = figure(page, "traces-by-state")
    states.get_by_role("button", name="Show as table").click()
    expect(states.locator("tbody tr")).to_have_count(32)
    fig = figure(page, "seizures-by-year-port")
    page.goto(f"{base_url}/#/seizure")
    wait_idle(page)
    fig.get_by_role("button", name="Show as table").click()
    # Published protected numbers are never below the threshold.
    for text in fig.locator("td.protected").all_inner_texts():
        value = int(re.sub(r"[^0-9]", "", text))
        assert value >= 5, f"a protected count below the threshold is shown: {text}"


def test_ice_is_asked_for_a_purpose_and_then_reads_atf_traces(page: Page, base_url):
    sign_in(page, base_url, "ICE")
    page.goto(f"{base_url}/#/trace/records")
    dialog = page.get_by_role("dialog", name="Purpose of access")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Rows owned by other agencies were withheld")
    expect(page.locator(".paged .status")).to_contain_text("0 records match")
    # A purpose the hub would refuse is caught with a message, and nothing is sent.
    dialog.get_by_label("Case number or reason").fill("¡no!")
    dialog.get_by_role("button", name="State purpose").click()
    expect(dialog.get_by_role("alert")).to_contain_text("unaccented letters")
    dialog.get_by_label("Case number or reason").fill(PURPOSE)
    dialog.get_by_role("button", name="State purpose").click()
    expect(page.locator("#purpose-in-force")).to_contain_text(PURPOSE)
    wait_idle(page)
    rows = page.locator("table.records tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator(".paged .status")).not_to_contain_text("0 records match")
    # Details: the fields ICE may not read say so.
    rows.first.get_by_role("button").click()
    detail = page.locator("dialog.detail-dialog")
    expect(detail).to_contain_text("Trace:")
    for field in ("Purchaser", "Dealer licence"):
        dd = detail.locator("dt", has_text=re.compile(f"^{field}$")).locator("xpath=following-sibling::dd[1]")
        expect(dd).to_have_text("Not permitted")
    screenshot(page, "ICE-trace-detail")
    detail.get_by_role("button", name="Close").click()
    # The purpose stays in force across sections, and can be cleared.
    page.goto(f"{base_url}/#/seizure/records")
    expect(page.locator("#purpose-in-force")).to_contain_text(PURPOSE)
    page.locator("#purpose-in-force").get_by_role("button", name="Clear").click()
    expect(page.locator("#purpose-in-force")).to_have_count(0)


def test_rows_withheld_without_a_purpose_are_said_so_and_never_downloaded(page: Page, base_url):
    """Cancelling the purpose prompt leaves a notice, not an empty result that looks complete; a
    CSV download is refused with the reason instead of saving a partial file; the notice's button
    asks again, and with a purpose the rows and the download come."""
    sign_in(page, base_url, "ICE")
    page.goto(f"{base_url}/#/trace/records")
    dialog = page.get_by_role("dialog", name="Purpose of access")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    wait_idle(page)
    notice = page.locator(".paged .withheld")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Rows owned by other agencies were left out because no purpose of access is stated")
    empty = page.locator(".paged .empty")
    expect(empty).to_have_text("None of your own agency's records match; other agencies' rows were left out.")

    downloads = []
    page.on("download", lambda download: downloads.append(download))
    page.get_by_role("button", name="Download CSV of this filter").click()
    refused = page.locator(".csv-row .withheld")
    expect(refused).to_contain_text("The CSV was not saved")
    expect(refused).to_contain_text("could be incomplete")
    expect(page.get_by_role("button", name="Download CSV of this filter")).to_be_enabled()
    page.wait_for_load_state("networkidle")
    assert downloads == [], "no file is saved while rows are withheld"
    # No prompt was forced open again; the person asks for it.
    expect(page.get_by_role("dialog", name="Purpose of access")).to_have_count(0)
    screenshot(page, "ICE-trace-records-withheld")

    notice.get_by_role("button", name="State purpose").click()
    dialog = page.get_by_role("dialog", name="Purpose of access")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Case number or reason").fill(PURPOSE)
    dialog.get_by_role("button", name="State purpose").click()
    expect(page.locator("#purpose-in-force")).to_contain_text(PURPOSE)
    wait_idle(page)
    expect(page.locator("table.records tbody tr").first).to_be_visible()
    expect(page.locator(".withheld")).to_have_count(0)

    # With the purpose, the same download is saved, complete.
    form = page.locator("form.filters")
    form.get_by_label("Recovery state").select_option("MX-SON")
    year = form.locator("fieldset", has_text="Year recovered")
    year.get_by_label("From").fill("2021")
    year.get_by_label("To").fill("2021")
    form.get_by_role("button", name="Apply filters").click()
    wait_idle(page)
    total = int(re.search(r"([\d,]+) records match", page.locator(".paged .status").inner_text()).group(1).replace(",", ""))
    assert total > 0
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV of this filter").click()
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert len(rows) == total and {r["recoveryState"] for r in rows} == {"MX-SON"}


def test_fields_the_role_may_not_read_say_so_in_the_table(page: Page, base_url):
    sign_in(page, base_url, "ATF")
    page.goto(f"{base_url}/#/seizure/records")
    dialog = page.get_by_role("dialog", name="Purpose of access")
    dialog.get_by_label("Case number or reason").fill("ATF review 2026-12")
    dialog.get_by_role("button", name="State purpose").click()
    wait_idle(page)
    header = page.locator("table.records thead th").all_inner_texts()
    column = header.index("Case number")
    first = page.locator("table.records tbody tr").first.locator("td").nth(column)
    expect(first).to_have_text("Not permitted")


def test_records_filter_paginate_and_download_csv(page: Page, base_url):
    sign_in(page, base_url, "ATF")
    page.goto(f"{base_url}/#/trace/records")
    wait_idle(page)
    form = page.locator("form.filters")
    form.get_by_label("Recovery state").select_option("MX-SON")
    year = form.locator("fieldset", has_text="Year recovered")
    year.get_by_label("From").fill("2020")
    year.get_by_label("To").fill("2021")
    form.get_by_role("button", name="Apply filters").click()
    wait_idle(page)
    status = page.locator(".paged .status").inner_text()
    total = int(re.search(r"([\d,]+) records match", status).group(1).replace(",", ""))
    assert total > 25, status
    states = page.locator("table.records tbody tr td:nth-child(3)").all_inner_texts()
    assert set(states) == {"Sonora"}, states
    first_page = page.locator("table.records tbody tr td:first-child").all_inner_texts()
    page.get_by_role("button", name="Next page").click()
    wait_idle(page)
    second_page = page.locator("table.records tbody tr td:first-child").all_inner_texts()
    assert second_page and not set(first_page) & set(second_page)
    page.get_by_role("button", name="Previous page").click()
    wait_idle(page)
    assert page.locator("table.records tbody tr td:first-child").all_inner_texts() == first_page

    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV of this filter").click()
    text = info.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == total
    assert {r["recoveryState"] for r in rows} == {"MX-SON"}
    assert all(r["recoveryDate"][:4] in ("2020", "2021") for r in rows)
    assert len({r["traceNumber"] for r in rows}) == total
    assert "firearm.serialNumber" in rows[0]
    # Without the pii scope the purchaser's name is no column at all.
    assert "purchaserName" not in rows[0]
    expect(page.locator(".csv-row .status")).to_contain_text(f"Downloaded {total:,} records")


def test_a_csv_download_waits_out_the_rate_limit(page: Page, base_url, watch):
    sign_in(page, base_url, "ATF")
    page.goto(f"{base_url}/#/trace/records")
    wait_idle(page)
    form = page.locator("form.filters")
    form.get_by_label("Recovery state").select_option("MX-SON")
    year = form.locator("fieldset", has_text="Year recovered")
    year.get_by_label("From").fill("2023")
    form.get_by_role("button", name="Apply filters").click()
    wait_idle(page)
    total = int(re.search(r"([\d,]+) records match", page.locator(".paged .status").inner_text()).group(1).replace(",", ""))
    assert total > 200, "several pages of 100"
    watch.allow_console("status of 429")
    refused = []

    def limit_once(route):
        if "PortalTracesExport" in (route.request.post_data or "") and not refused:
            refused.append(route.request.url)
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                          body='{"errors":[{"message":"rate limit exceeded","extensions":{"code":"RATE_LIMITED"}}]}')
        else:
            route.fallback()

    page.route("**/graphql", limit_once)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV of this filter").click()
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert refused, "the second page was refused once"
    assert len(rows) == total and len({r["traceNumber"] for r in rows}) == total


def test_oversight_reads_the_audit_trail_with_filters(page: Page, base_url):
    sign_in(page, base_url, "OVERSIGHT")
    page.goto(f"{base_url}/#/audit")
    wait_idle(page)
    expect(page.locator("h1")).to_have_text("Audit trail")
    expect(page.locator("table.records tbody tr").first).to_be_visible()
    form = page.locator("form.filters")
    form.get_by_label("Role").select_option("OVERSIGHT")
    form.locator("fieldset", has_text="Outcome").get_by_label("Allowed").check()
    form.get_by_role("button", name="Apply filters").click()
    wait_idle(page)
    roles = page.locator("table.records tbody tr td:nth-child(3)").all_inner_texts()
    outcomes = page.locator("table.records tbody tr td:nth-child(8)").all_inner_texts()
    assert roles and set(roles) == {"Oversight"}, roles
    assert set(outcomes) == {"Allowed"}, outcomes
    operations = page.locator("table.records tbody tr td:nth-child(5)").all_inner_texts()
    assert any(op.startswith("Portal") for op in operations), operations
    screenshot(page, "OVERSIGHT-audit-filtered")


def test_an_agency_sees_who_read_its_data(page: Page, base_url):
    # ICE reads ATF's traces with a purpose; ATF then finds that read in its audit view.
    sign_in(page, base_url, "ICE")
    page.goto(f"{base_url}/#/trace/records")
    dialog = page.get_by_role("dialog", name="Purpose of access")
    dialog.get_by_label("Case number or reason").fill("HSI audit check 7")
    dialog.get_by_role("button", name="State purpose").click()
    wait_idle(page)
    page.locator("#sign-out").click()
    page.locator(f'button[data-role="ATF"]').click()
    page.locator("nav.sections").wait_for()
    page.goto(f"{base_url}/#/audit")
    wait_idle(page)
    expect(page.locator("h1")).to_have_text("Who read your agency's data")
    form = page.locator("form.filters")
    form.get_by_label("Role").select_option("ICE")
    form.get_by_role("button", name="Apply filters").click()
    wait_idle(page)
    purposes = page.locator("table.records tbody tr td:nth-child(4)").all_inner_texts()
    assert "HSI audit check 7" in purposes, purposes


def test_measures_and_link_candidates(page: Page, base_url):
    sign_in(page, base_url, "ICE")
    page.goto(f"{base_url}/#/measures")
    wait_idle(page)
    measures = page.locator("article.measure")
    assert measures.count() >= 9
    expect(measures.first.locator("tbody tr").first).to_be_visible()
    statuses = set(page.locator(".status-badge").all_inner_texts())
    assert statuses <= {"On track", "Off track", "Not yet measurable"} and statuses, statuses
    page.goto(f"{base_url}/#/links")
    dialog = page.get_by_role("dialog", name="Purpose of access")
    dialog.get_by_label("Case number or reason").fill(PURPOSE)
    dialog.get_by_role("button", name="State purpose").click()
    wait_idle(page)
    rows = page.locator("table.records tbody tr")
    expect(rows.first).to_be_visible()
    edit = rows.first.locator("td").nth(1).inner_text()
    assert edit in {"Look-alike character (O/0, I/1…)", "One character different", "Two characters swapped",
                    "One character missing", "One character added"}, edit
    screenshot(page, "ICE-links")


def test_atf_decides_on_a_link_candidate(page: Page, base_url):
    sign_in(page, base_url, "ATF")
    page.goto(f"{base_url}/#/links")
    # The seized side is CBP's or ICE's: a purpose is asked for first.
    expect(page.get_by_role("dialog", name="Purpose of access")).to_be_visible()
    answer_purpose_if_asked(page, "ATF serial review 2026-12")
    row = page.locator("table.records tbody tr").first
    seized = row.locator("td").nth(3).inner_text()
    row.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog", name=re.compile("Confirm this link candidate"))
    expect(dialog).to_contain_text(seized)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator(".ok[role=status]")).to_contain_text("Decision recorded: Confirm")
    wait_idle(page)
    # The decision shows on the candidate (ICE or CBP has not decided, so it stays open).
    decided = page.locator("table.records tbody tr", has_text=seized).first
    expect(decided.locator("td").nth(6)).to_contain_text("ATF: Confirm")
    expect(decided.locator("td").nth(5)).to_have_text("Open")


def test_spanish_labels_and_locale_formatting_persist(page: Page, base_url):
    sign_in(page, base_url, "STATE")
    page.goto(f"{base_url}/#/fundingAward")
    wait_idle(page)
    total_en = page.locator(".total strong").first.inner_text()
    page.get_by_label("Language").select_option("es")
    wait_idle(page)
    expect(page.locator("html")).to_have_attribute("lang", "es-MX")
    expect(page.locator("h1")).to_have_text("Financiamiento")
    expect(page.locator("nav.sections")).to_contain_text("Rastreos")
    expect(page.locator("nav.sections")).to_contain_text("Bitácora de auditoría")
    expect(page.locator(".role-badge")).to_have_text("Departamento de Estado")
    total_es = page.locator(".total strong").first.inner_text()
    amount = re.sub(r"[^0-9]", "", total_en)
    decimal = f"{amount[:-2]}.{amount[-2:]}"
    assert total_en == page.evaluate("(a) => new Intl.NumberFormat('en-US', {style: 'currency', currency: 'USD'}).format(a)", decimal)
    assert total_es == page.evaluate("(a) => new Intl.NumberFormat('es-MX', {style: 'currency', currency: 'USD'}).format(a)", decimal)
    assert total_en != total_es
    fig = figure(page, "funding-by-year-category")
    fig.get_by_role("button", name="Ver como tabla").click()
    expect(fig.locator("thead")).to_contain_text("Comprometido")
    expect(fig.locator("tbody")).to_contain_text("Capacitación forense")
    expect(fig.locator("tbody")).to_contain_text("AF 2020")
    screenshot(page, "STATE-fundingAward-es")

    # Enumerations, states and dates in Spanish.
    page.goto(f"{base_url}/#/training/records")
    wait_idle(page)
    table = page.locator("table.records")
    expect(table.locator("thead")).to_contain_text("Estado mexicano")
    courses = set(table.locator("tbody tr td:nth-child(1)").all_inner_texts())
    assert courses <= {"eTrace", "Identificación de armas", "Ciencias forenses", "Binomios caninos", "Inspección", "Otro"}, courses
    start = table.locator("tbody tr td:nth-child(3)").first.inner_text()
    assert re.fullmatch(r"\d{1,2} [a-z]{3,4}\.? \d{4}", start), start  # e.g. "14 mar 2019"

    # The choice persists across a reload, in this tab and in a new one.
    page.reload()
    page.locator("nav.sections").wait_for()
    expect(page.locator("nav.sections")).to_contain_text("Rastreos")
    other = page.context.new_page()
    other.goto(f"{base_url}/")
    expect(other.locator("h1")).to_have_text("Iniciar sesión")
    other.close()
    screenshot(page, "STATE-training-es")


def test_every_text_has_both_languages(page: Page, base_url):
    page.goto(f"{base_url}/")
    missing = page.evaluate("""async () => {
      const en = (await import('/static/portal/js/i18n/en.js')).default;
      const es = (await import('/static/portal/js/i18n/es.js')).default;
      const keys = (o, p = '') => Object.entries(o).flatMap(([k, v]) => typeof v === 'object' ? keys(v, `${p}${k}.`) : [`${p}${k}`]);
      const a = new Set(keys(en)), b = new Set(keys(es));
      return { onlyEn: [...a].filter((k) => !b.has(k)), onlyEs: [...b].filter((k) => !a.has(k)),
               empty: [...keys(en), ...keys(es)].filter((k) => false) };
    }""")
    assert missing["onlyEn"] == [] and missing["onlyEs"] == [], missing


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("code,status", [("FORBIDDEN", 200), ("CONFLICT", 200), ("UNAVAILABLE", 503), ("TIMEOUT", 503), ("RATE_LIMITED", 429)])
def test_error_codes_get_human_messages(page: Page, base_url, watch, language, code, status):
    sign_in(page, base_url, "CBP")
    if language == "es":
        page.get_by_label("Language").select_option("es")
    watch.allow_console(f"status of {status}")

    def failing(route):
        body = route.request.post_data or ""
        if "PortalMeasures" in body:
            route.fulfill(status=status, content_type="application/json",
                          body='{"errors":[{"message":"simulated %s","extensions":{"code":"%s"}}]}' % (code, code))
        else:
            route.fallback()

    page.route("**/graphql", failing)
    page.goto(f"{base_url}/#/measures")
    alert = page.locator(f'.error[data-code="{code}"]')
    expect(alert).to_be_visible()
    expected = {
        ("en", "FORBIDDEN"): "Not permitted.", ("es", "FORBIDDEN"): "No autorizado.",
        ("en", "CONFLICT"): "Changed meanwhile.", ("es", "CONFLICT"): "Cambió mientras tanto.",
        ("en", "UNAVAILABLE"): "The hub is unavailable.", ("es", "UNAVAILABLE"): "El centro no está disponible.",
        ("en", "TIMEOUT"): "The request took too long.", ("es", "TIMEOUT"): "La solicitud tardó demasiado.",
        ("en", "RATE_LIMITED"): "Too many requests.", ("es", "RATE_LIMITED"): "Demasiadas solicitudes.",
    }[(language, code)]
    expect(alert).to_contain_text(expected)
    # The hub's own message stays as it was sent.
    expect(alert.locator("code")).to_have_text(f"simulated {code}")


def test_token_stays_in_session_storage_only(page: Page, base_url):
    sign_in(page, base_url, "ATF", scopes=("pii",))
    storage = page.evaluate("() => ({ local: {...localStorage}, session: {...sessionStorage}, url: location.href })")
    assert set(storage["local"]) <= {"hub.language"}, storage["local"]
    token = storage["session"].get("hub.token", "")
    assert token.count(".") == 2, "a JWT in sessionStorage"
    assert token not in storage["url"]
    # With the pii scope, ATF reads purchasers: the detail shows no "Not permitted" for them.
    page.goto(f"{base_url}/#/trace/records")
    wait_idle(page)
    page.locator("table.records tbody tr").first.get_by_role("button").click()
    # The firearm's seizures are other agencies' rows: the portal asks for a purpose, then shows
    # the record again with them.
    expect(page.get_by_role("dialog", name="Purpose of access")).to_be_visible()
    answer_purpose_if_asked(page, "ATF trace review 12")
    detail = page.locator("dialog.detail-dialog")
    expect(detail).to_contain_text("Trace:")
    expect(detail.locator("section.related").first).to_be_visible()
    dd = detail.locator("dt", has_text=re.compile("^Purchaser$")).locator("xpath=following-sibling::dd[1]")
    expect(dd).not_to_have_text("Not permitted")
    page.locator("dialog.detail-dialog").get_by_role("button", name="Close").click()
    page.locator("#sign-out").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert page.evaluate("() => sessionStorage.getItem('hub.token')") is None


def test_pasting_a_token_signs_in_and_a_bad_one_is_refused(page: Page, base_url, watch):
    token = page.request.post(f"{base_url}/dev/token", data={"role": "CBP", "scopes": []}).json()["token"]
    page.goto(f"{base_url}/")
    watch.allow_console("status of 401")
    page.get_by_label("Bearer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator('.error[data-code="UNAUTHENTICATED"]')).to_contain_text("Not signed in.")
    page.get_by_label("Bearer token").fill(f"Bearer {token}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".role-badge")).to_have_text("CBP")
    # A token the hub stops accepting (expired, revoked key) ends the session with the reason.
    page.route("**/graphql", lambda route: route.fulfill(
        status=401, content_type="application/json",
        body='{"errors":[{"message":"the token has expired","extensions":{"code":"UNAUTHENTICATED"}}]}'))
    page.goto(f"{base_url}/#/measures")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator('.error[data-code="UNAUTHENTICATED"] code')).to_have_text("the token has expired")
    assert page.evaluate("() => sessionStorage.getItem('hub.token')") is None


def test_without_the_development_endpoint_there_is_no_role_picker(page: Page, base_url, watch):
    watch.allow_console("status of 404")
    page.route("**/dev/roles", lambda route: route.fulfill(status=404, body=""))
    page.goto(f"{base_url}/")
    expect(page.get_by_label("Bearer token")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("button[data-role]")).to_have_count(0)


def test_keyboard_alone_signs_in_and_moves_between_sections(page: Page, base_url):
    page.goto(f"{base_url}/")
    page.locator("button[data-role]").first.wait_for()
    # Tab until the first role button has focus, then press Enter.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.dataset.role === 'ATF'"):
            break
    else:
        pytest.fail("the role picker is not reachable by keyboard")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is visible"
    page.keyboard.press("Enter")
    page.locator("nav.sections").wait_for()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.dataset.section === 'seizure'"):
            break
    else:
        pytest.fail("the navigation is not reachable by keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Seizures")
    # Every form control on the page has a label.
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML)""")
    assert unlabelled == []


def test_graphiql_loads_offline_with_its_docs_explorer(page: Page, base_url):
    page.goto(f"{base_url}/graphql")
    page.locator("#hub-role").select_option("CBP")
    page.locator("#hub-dev-token").click()
    page.locator(".graphiql-container").wait_for()
    page.get_by_role("button", name=re.compile("documentation explorer", re.I)).click()
    docs = page.locator(".graphiql-doc-explorer")
    expect(docs).to_be_visible()
    docs.get_by_text("Query", exact=True).first.click()
    expect(docs).to_contain_text("seizures")
    # CBP's own schema: no funding.
    expect(docs).not_to_contain_text("fundingAwards")
    screenshot(page, "graphiql-CBP-docs")


def _graphql(page: Page, base_url: str, token: str, query: str, variables=None, purpose=None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Access-Purpose"] = purpose
    response = page.request.post(f"{base_url}/graphql", headers=headers,
                                 data={"query": query, "variables": variables or {}})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def test_csv_text_never_opens_as_a_formula(page: Page, base_url):
    """Free text another agency typed (here an operation and a concealment method beginning as
    formulas) reaches a CSV as text: a leading apostrophe keeps a spreadsheet from running it.
    Numbers and dates are written as they are."""
    cbp = page.request.post(f"{base_url}/dev/token", data={"role": "CBP", "scopes": []}).json()["token"]
    case = "CSV-FORMULA-0001"
    formulas = {
        "operation": "=1+1",
        "concealmentMethod": "@SUM(1+1)*cmd|' /C calc'!A0",
    }
    created = _graphql(page, base_url, cbp, """mutation($input: SeizureInput!) { recordSeizure(input: $input) { id } }""", {
        "input": {
            "caseNumber": case, "seizingAgency": "CBP", "seizedOn": "2022-03-04", "usState": "AZ",
            "direction": "OUTBOUND", "ammunitionRounds": 12, **formulas,
            "firearms": [{"manufacturer": "Ruger", "type": "PISTOL"}],
        }})["recordSeizure"]
    try:
        sign_in(page, base_url, "CBP")
        page.goto(f"{base_url}/#/seizure/records")
        # Seizures may be ICE's too: a complete download needs a purpose.
        expect(page.get_by_role("dialog", name="Purpose of access")).to_be_visible()
        answer_purpose_if_asked(page, "CBP export check 2026")
        form = page.locator("form.filters")
        form.get_by_label("Operation").fill(formulas["operation"])
        form.get_by_role("button", name="Apply filters").click()
        wait_idle(page)
        expect(page.locator(".paged .status")).to_contain_text("1 records match")
        # On screen the text is shown as it was recorded.
        page.locator("table.records tbody tr").first.get_by_role("button").click()
        detail = page.locator("dialog.detail-dialog")
        dd = detail.locator("dt", has_text=re.compile("^Operation$")).locator("xpath=following-sibling::dd[1]")
        expect(dd).to_have_text(formulas["operation"])
        detail.get_by_role("button", name="Close").click()
        expect(page.locator(".csv-row .hint")).to_contain_text("leading apostrophe")

        with page.expect_download() as info:
            page.get_by_role("button", name="Download CSV of this filter").click()
        text = info.value.path().read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 1, rows
        row = rows[0]
        assert row["operation"] == "'=1+1", row
        assert row["concealmentMethod"] == "'@SUM(1+1)*cmd|' /C calc'!A0", row
        # No cell of the file begins as a formula.
        cells = [cell for r in csv.reader(io.StringIO(text)) for cell in r]
        assert not [c for c in cells if re.match(r"\s*[=+\-@]|[\t\r]", c)], cells
        # Other text, numbers and dates are as the API sends them.
        assert row["caseNumber"] == case
        assert row["ammunitionRounds"] == "12"
        assert row["seizedOn"] == "2022-03-04"
        assert row["id"] == created["id"]
    finally:
        _graphql(page, base_url, cbp, "mutation($id: ID!) { deleteSeizure(id: $id) }", {"id": created["id"]})


def test_a_grant_in_force_opens_the_rows_it_names(page: Page, base_url):
    """Oversight grants STATE Sonora's traces for an hour: the portal follows the role's schema and
    shows trace records, only Sonora's; revoking the grant closes them again. (Last in the file:
    it changes what STATE reads while it runs.)"""
    import datetime as dt
    oversight = page.request.post(f"{base_url}/dev/token", data={"role": "OVERSIGHT", "scopes": []}).json()["token"]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    grant = _graphql(page, base_url, oversight, """mutation($input: GrantInput!) { grantAccess(input: $input) { id } }""", {
        "input": {
            "role": "STATE", "entity": "trace", "rowFilter": '{"recoveryState": ["MX-SON"]}',
            "reason": "MOU 2026-3, Sonora corridor study",
            "startsAt": (now - dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
            "endsAt": (now + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        }})["grantAccess"]
    try:
        sign_in(page, base_url, "STATE")
        expect(page.locator("ul.grants")).to_contain_text("MOU 2026-3, Sonora corridor study")
        page.goto(f"{base_url}/#/trace/records")
        # Grants apply with a stated purpose only.
        expect(page.get_by_role("dialog", name="Purpose of access")).to_be_visible()
        answer_purpose_if_asked(page, "INL Sonora study 2026")
        states = set(page.locator("table.records tbody tr td:nth-child(3)").all_inner_texts())
        assert states == {"Sonora"}, states
        screenshot(page, "STATE-trace-records-granted")
    finally:
        _graphql(page, base_url, oversight, "mutation($id: ID!) { revokeGrant(id: $id) { id } }", {"id": grant["id"]})
    page.goto(f"{base_url}/")
    page.locator("#sign-out").click()
    sign_in(page, base_url, "STATE")
    page.goto(f"{base_url}/#/trace/records")
    wait_idle(page)
    expect(page.locator("table.records")).to_have_count(0)
