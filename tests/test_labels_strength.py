"""Label behaviours the dataset tests leave open (issue 16): the documented bounds at, just below and just above
(a year at MIN_YEAR and at the maximum, one pageview), every input form `release_year` accepts, unreadable
pageviews, the histogram edges, and the messages of each refusal. Oracles: the module docstring's definitions,
worked out by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from rap_analyzer.dataset.labels import (
    MIN_YEAR,
    label_edges,
    popularity_score,
    popularity_within_artist,
    release_year,
)


def years_of(values: list[object], **kwargs: object) -> tuple[list[float], dict[str, int]]:
    years, counts = release_year(pd.Series(values, dtype=object), **kwargs)  # type: ignore[arg-type]
    return years.tolist(), counts


def test_year_bounds_are_inclusive() -> None:
    years, counts = years_of([f"{MIN_YEAR - 1}-12-31", f"{MIN_YEAR}-01-01", "2000-06-01", "2001-01-01"],
                             max_year=2000)
    assert years[1:3] == [MIN_YEAR, 2000.0]
    assert np.isnan(years[0]) and np.isnan(years[3])
    assert counts == {"release_year_missing": 0, "release_year_impossible": 2, "release_year_from_raw": 0}


def test_the_default_maximum_is_this_year() -> None:
    this_year = date.today().year
    years, counts = years_of([f"{this_year}-01-01", f"{this_year + 1}-01-01"])
    assert years[0] == this_year and np.isnan(years[1]) and counts["release_year_impossible"] == 1


def test_every_accepted_form_gives_its_year_and_unreadable_text_is_impossible() -> None:
    values = [date(1994, 4, 19), pd.Timestamp("1996-07-02"), np.datetime64("1998-09-29"), "2003", "1989-08",
              "2004-11-16T00:00:00", "soon", "n/a", "19945", "abcd-01-01"]
    years, counts = years_of(values, max_year=2025)
    assert years[:6] == [1994.0, 1996.0, 1998.0, 2003.0, 1989.0, 2004.0]
    assert all(np.isnan(y) for y in years[6:])
    assert counts["release_year_impossible"] == 4


def test_missing_dates_and_raw_fallbacks_are_each_counted() -> None:
    dates = pd.Series([None, None, None, "1999-01-01"], dtype=object)
    raw = pd.Series(["2003", "1989-08", None, None], dtype=object)
    years, counts = release_year(dates, raw, max_year=2025)
    assert years.tolist()[:2] == [2003.0, 1989.0] and years.tolist()[3] == 1999.0
    assert counts == {"release_year_missing": 1, "release_year_impossible": 0, "release_year_from_raw": 2}
    _, counts = release_year(pd.Series([None, None], dtype=object), max_year=2025)
    assert counts["release_year_missing"] == 2


def test_one_pageview_is_labelled_and_unreadable_pageviews_are_not() -> None:
    # log10(1) = 0 is a view count like any other; "n/a" and None are unknown (NaN), not an error.
    views = pd.Series([1, 10, 100, "n/a", None], dtype=object)
    scores = popularity_score(views).tolist()
    assert scores[:3] == [1.0, 5.5, 10.0] and all(np.isnan(s) for s in scores[3:])
    labels, _ = popularity_within_artist(views, pd.Series(["A"] * 5), min_songs=2)
    assert labels.tolist()[:3] == [1.0, 5.5, 10.0] and all(np.isnan(s) for s in labels.tolist()[3:])


def test_year_histogram_edges_span_the_decades_of_the_data() -> None:
    assert label_edges("release_year", pd.Series([1987.0, 1994.0, 2003.0])).tolist() == [1980, 1990, 2000, 2010]
    # A year on a decade's first day opens that decade's bin, and the last bin closes after it.
    assert label_edges("release_year", pd.Series([1990.0, 2010.0])).tolist() == [1990, 2000, 2010, 2020]
    assert label_edges("release_year", pd.Series([np.nan])).tolist() == [MIN_YEAR, MIN_YEAR + 10]
    assert label_edges("popularity", pd.Series([3.0])).tolist() == list(range(1, 11))


def test_within_artist_refusals_say_what_to_fix() -> None:
    views, artists = pd.Series([10.0, 20.0]), pd.Series(["A", "A"])
    with pytest.raises(ValueError, match=r"^min_songs must be at least 2 \(a rank among one song is undefined\), "
                                         r"got 1; fix prepare\.within_artist_min_songs$"):
        popularity_within_artist(views, artists, min_songs=1)
    with pytest.raises(ValueError, match=r"^pageviews and artists must share one index \(one artist per track\)$"):
        popularity_within_artist(views, pd.Series(["A", "A"], index=[5, 6]), min_songs=2)
