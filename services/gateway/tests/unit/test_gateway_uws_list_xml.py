"""The job list's XML, built with lxml for speed, is byte for byte what vo-models builds, for any job the catalog
can hold (owners and run ids with markup, quotes and any character XML allows, anonymous jobs, times in any zone
and with microseconds), and valid UWS 1.1."""

import io
from datetime import UTC, datetime, timedelta, timezone

import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from esap_gateway.adapters.uws_xml import to_uws_jobs, to_uws_jobs_by_models
from esap_messages import Phase
from esap_messages.api import JobSummaryView

# What XML 1.0 can carry (no control characters but tab and newlines, no surrogates), as the catalog's text does.
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
                   | st.sampled_from("<>&\"'\t\n"), max_size=30)
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))
summaries = st.builds(JobSummaryView, job_id=st.uuids(), run_id=st.none() | xml_text, owner=st.none() | xml_text,
                      phase=st.sampled_from(Phase), workflow=st.just("noop"), facility=st.just("local"),
                      creation_time=moments)


@settings(max_examples=300, deadline=None)
@given(jobs=st.lists(summaries, max_size=6), base=st.sampled_from(["http://gw", "https://h/esap?x=1&y=<2>"]))
def test_the_list_is_what_vo_models_builds(jobs: list[JobSummaryView], base: str) -> None:
    assert to_uws_jobs(jobs, base) == to_uws_jobs_by_models(jobs, base)


def test_a_list_of_fifty_is_valid_uws(uws_schema: xmlschema.XMLSchema) -> None:
    jobs = [JobSummaryView(job_id=f"01a25000-0000-7000-8000-{n:012d}", run_id=None if n % 2 else f"run <{n}>",
                           owner=None if n % 3 == 0 else "alice & co", phase=list(Phase)[n % len(Phase)],
                           workflow="noop", facility="local",
                           creation_time=datetime(2026, 12, 7, 12, 0, n, 123456, tzinfo=UTC)) for n in range(50)]
    uws_schema.validate(io.BytesIO(to_uws_jobs(jobs, "http://gw")))
