"""The history chart's pure parts: one mean per column, None left out, holes in the data kept as holes,
clock-aligned time ticks (widgets/gpu_chart.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from widgets.gpu_chart import RANGES, downsample, gap_starts, range_label, time_ticks

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def fine(seconds: int, end: float = NOW, util=lambda i: 50.0, mem=lambda i: 20.0):
    """One point a second over the last ``seconds`` up to ``end``."""
    return [(end - seconds + 1 + i, util(i), mem(i)) for i in range(seconds)]


def minutes(n: int, end: float = NOW):
    return [(end - (n - 1 - i) * 60.0, 40.0, 10.0) for i in range(n)]


def test_one_mean_per_column():
    pts = [(NOW - 900 + i, float(i % 10), 100.0 - i % 10) for i in range(900)]  # 0..9 repeating
    util, mem = downsample(pts, NOW - 900, NOW, 90)  # 10 s a column: each holds 0..9 once
    assert len(util) == 1 and len(mem) == 1
    assert len(util[0]) == 90
    assert all(abs(v - 4.5) < 1e-9 for _, v in util[0])
    assert all(abs(v - 95.5) < 1e-9 for _, v in mem[0])
    times = [t for t, _ in util[0]]
    assert times == sorted(times) and times[0] == NOW - 895.5  # the mean time of the first column


def test_none_values_are_left_out_of_the_means_and_a_column_of_none_has_no_point():
    pts = [(NOW - 9, 10.0, None), (NOW - 8, None, 30.0), (NOW - 7, 30.0, 50.0),
           (NOW - 2, None, 5.0), (NOW - 1, None, 7.0)]
    util, mem = downsample(pts, NOW - 10, NOW, 2)  # two 5 s columns: [NOW-10, NOW-5), [NOW-5, NOW]
    assert util == [[(NOW - 8, 20.0)]]  # (10 + 30) / 2 at the mean of their times; column 1 is all None
    assert mem == [[(NOW - 7.5, 40.0), (NOW - 1.5, 6.0)]]


def test_points_outside_the_window_are_dropped_and_unsorted_input_is_sorted():
    pts = [(NOW - 5, 10.0, 1.0), (NOW - 3000, 99.0, 99.0), (NOW - 1, 30.0, 3.0), (NOW + 50, 99.0, 99.0),
           (NOW - 3, 20.0, 2.0)]
    util, mem = downsample(pts, NOW - 10, NOW, 10)
    assert util == [[(NOW - 5, 10.0), (NOW - 3, 20.0), (NOW - 1, 30.0)]]
    assert mem == [[(NOW - 5, 1.0), (NOW - 3, 2.0), (NOW - 1, 3.0)]]


def test_a_hole_in_one_second_data_is_a_gap_and_a_missed_sample_is_not():
    pts = [p for p in fine(900) if not NOW - 500 <= p[0] < NOW - 300]  # 200 s without samples
    util, _ = downsample(pts, NOW - 900, NOW, 190)
    assert len(util) == 2
    assert util[0][-1][0] < NOW - 500 and util[1][0][0] >= NOW - 300
    one_missed = [p for p in fine(900) if p[0] != NOW - 400]
    assert len(downsample(one_missed, NOW - 900, NOW, 190)[0]) == 1


def test_a_hole_narrower_than_two_columns_is_not_split():
    """24 h on 80 columns is ~18 min a column: a 5-minute hole cannot be drawn, so the line goes on."""
    pts = [p for p in fine(3600) if not NOW - 2000 <= p[0] < NOW - 1700]
    assert len(downsample(pts, NOW - 86400, NOW, 75)[0]) == 1
    assert len(downsample(pts, NOW - 3600, NOW, 190)[0]) == 2  # 19 s a column: it shows


def test_a_hole_in_minute_data_is_a_gap():
    pts = [p for p in minutes(1440) if not NOW - 8 * 3600 <= p[0] < NOW - 5 * 3600]
    util, mem = downsample(pts, NOW - 86400, NOW, 195)
    assert len(util) == 2 and len(mem) == 2


def test_minute_averages_then_one_second_points_are_one_line():
    """What a 1 h window of the direct scrape holds: 45 minute points, then 900 one-second points."""
    pts = [p for p in minutes(60) if p[0] < NOW - 900] + fine(900)
    util, mem = downsample(pts, NOW - 3600, NOW, 190)
    assert len(util) == 1 and len(mem) == 1
    assert len(util[0]) <= 190


def test_a_lone_sample_between_two_holes_is_a_run_of_its_own():
    pts = fine(300, end=NOW - 3000) + [(NOW - 2000, 70.0, 70.0)] + fine(300)
    util, _ = downsample(pts, NOW - 3600, NOW, 190)
    assert [len(r) for r in util][1] == 1 and len(util) == 3
    assert util[1] == [(NOW - 2000, 70.0)]


def test_a_single_point_and_no_points():
    assert downsample([(NOW - 5, 12.0, None)], NOW - 900, NOW, 80) == ([[(NOW - 5, 12.0)]], [])
    assert downsample([], NOW - 900, NOW, 80) == ([], [])
    assert downsample(fine(10), NOW - 900, NOW, 0) == ([], [])


def test_a_day_of_minutes_and_fifteen_minutes_of_seconds_fit_the_columns():
    pts = [p for p in minutes(1440) if p[0] < NOW - 900] + fine(900)
    for columns in (75, 195):
        util, mem = downsample(pts, NOW - 86400, NOW, columns)
        assert sum(len(r) for r in util) <= columns and sum(len(r) for r in mem) <= columns


def test_gap_starts_uses_the_local_step():
    times = [0, 60, 120, 180, 240, 241, 242, 243, 244, 600, 601, 602, 603]
    assert gap_starts(times) == [9]  # 244 -> 600 is a gap among 1 s steps; 60 s steps among 60 s ones are not
    assert gap_starts([0, 1, 1, 2, 2, 3, 50, 51, 52]) == [6]  # repeated times do not make every step a gap
    assert gap_starts([0, 1000]) == []  # two points: no usual step to compare with
    assert gap_starts([0, 1, 2, 3, 10, 11, 12], min_gap=20) == []  # 7 s is a gap of 1 s steps, but under 20 s


@given(st.lists(st.tuples(st.floats(NOW - 4000, NOW + 100), st.one_of(st.none(), st.floats(0, 100)),
                          st.one_of(st.none(), st.floats(0, 100))), max_size=300),
       st.integers(1, 250), st.sampled_from([r.seconds for r in RANGES]))
def test_downsample_never_exceeds_the_columns_nor_the_values(points, columns, seconds):
    util, mem = downsample(points, NOW - seconds, NOW, columns)
    for series, index in ((util, 1), (mem, 2)):
        values = [p[index] for p in points if p[index] is not None and NOW - seconds <= p[0] <= NOW]
        assert sum(len(r) for r in series) <= columns
        for run in series:
            assert run and [t for t, _ in run] == sorted(t for t, _ in run)
            for t, v in run:
                assert NOW - seconds <= t <= NOW + 1e-6
                assert min(values) - 1e-6 <= v <= max(values) + 1e-6


def test_time_ticks_are_on_the_clock_and_fewer_when_narrow():
    utc = timezone.utc
    ticks, labels = time_ticks(NOW - 900, NOW, 195, utc)  # 14:13:20 back to 13:58:20
    assert labels == ["14:00", "14:02", "14:04", "14:06", "14:08", "14:10", "14:12"]
    assert all(t % 120 == 0 for t in ticks)
    _, narrow = time_ticks(NOW - 900, NOW, 75, utc)
    assert narrow == ["14:00", "14:05", "14:10"]
    _, day = time_ticks(NOW - 86400, NOW, 75, utc)
    assert day == ["18:00", "00:00", "06:00", "12:00"]
    _, wide_day = time_ticks(NOW - 86400, NOW, 195, utc)
    assert len(wide_day) == 12 and wide_day[0] == "16:00"
    _, shifted = time_ticks(NOW - 900, NOW, 75, timezone(timedelta(hours=5, minutes=30)))
    assert shifted == ["19:30", "19:35", "19:40"]  # on the hour where the user is, not in UTC
    assert datetime.fromtimestamp(NOW, utc).strftime("%H:%M") == "14:13"


def test_range_labels():
    assert [r.short for r in RANGES] == ["15m", "1h", "6h", "24h"]
    assert range_label(21600) == "6 h" and range_label(21600, narrow=True) == "6h"
    assert range_label(1800) == "30m" and range_label(7200) == "2h"
