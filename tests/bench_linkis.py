"""Issue 8's figures: Linkis from the console's side, on the simulated gateway; `make bench` runs them.

Run alone: ``python -m tests.bench_linkis`` (under a minute); it prints the rows and writes them as the "Linkis"
section of docs/benchmarks.md, leaving the other sections as they are.

What it measures (a `small` simulator with a frozen clock moved by hand, its gateway over loopback HTTPS with the
token `--write-config` writes, the console's own client ``backends.linkis.LinkisSync``):

- the poller's round (``LinkisPoller.poll``: the job history of 7 days, paged, and the live status and progress of
  the tasks that run) with the seeded history and after 300 more jobs, and the parse of one history page of 100
  tasks (``backends.linkis.parse_task``, CPU time best of 5, JSON decode apart);
- a Spark SQL result of 20,000 rows (the simulated gateway's most; 6 typed columns, CJK and NULL cells):
  ``fetch_result`` reading its 4 pages of 5,000 (wall time: GET, JSON, parse), the parse of one page alone
  (``parse_result``, CPU best of 5), and the result written as CSV and as JSON (``write_result``);
- the task detail's table (``widgets.result_table.ResultTable``, in a headless Textual app at 200x50) with the most
  the detail screen holds, 100,000 rows (that result five times over): shown (the table holds one page of
  ``PAGE_ROWS``), sorted by a numeric column and by a text column (every row, typed; in a thread, as a result over
  ``SORT_IN_THREAD`` rows is: the key's own time on the UI thread, and the time to the sorted page drawn), and the
  next page: the time for each to the frame drawn.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
from pathlib import Path

ROWS = 20_000  # the simulated gateway serves at most 20,000 rows
SCREEN_ROWS = 100_000  # the most the task detail holds (screens.linkis_task.MAX_SCREEN_ROWS)
EXTRA_JOBS = 300
SQL = f"select id, cust_name, city, amount, score, dt from dw.sales limit {ROWS}"


def best(fn, repeat: int = 5) -> float:
    """The best CPU time of ``repeat`` calls, in seconds."""
    out = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        out.append(time.process_time() - t0)
    return min(out)


def measure() -> dict:
    import httpx

    from backends.linkis import Linkis, LinkisSync, parse_result, parse_task
    from prophecis_tui.domain import LinkisSubmit
    from prophecis_tui.linkis_tasks import LinkisPoller, fetch_result, write_result
    from prophecis_tui.simulator.testing import SimThread
    from prophecis_tui.state import State

    r: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-linkis-") as tmp, \
            SimThread(scale="small", seed=42, speed=0.0) as st:
        d = Path(tmp)
        st.write_config(d)
        url, ca = st.url + "/linkis", str(d / "ca.crt")
        token = (d / "linkis-token").read_text().strip()
        sync = LinkisSync(Linkis(url, user="mlss-admin", token=token, ca_file=ca, timeout=60))
        raw = httpx.Client(verify=ca, timeout=60, headers={"Token-Code": token, "Token-User": "mlss-admin"})
        api = url + "/api/rest_j/v1"
        try:
            # ---------------------------------------------------------------- the poller
            state = State()
            poller = LinkisPoller(state, sync, days=7)

            def rounds(n: int = 5) -> float:
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    poller.poll()
                    times.append(time.perf_counter() - t0)
                return sorted(times)[len(times) // 2]
            r["poll_seeded_s"], r["tasks_seeded"] = rounds(), len(state.linkis_tasks())
            for i in range(EXTRA_JOBS):  # finished ones: history rows (the gateway keeps a bounded number)
                sync.submit(LinkisSubmit(code=f"select {i} as n", run_type="sql", engine="spark-2.4.3"))
                if i % 20 == 19:
                    st.advance(30)
            st.advance(120)
            r["poll_more_s"], r["tasks_more"] = rounds(), len(state.linkis_tasks())
            r["running"] = sum(1 for t in state.linkis_tasks() if not t.done)
            page = raw.get(api + "/jobhistory/list", params={"pageNow": 1, "pageSize": 100,
                                                             "isAdminView": "true"}).content
            t0 = time.process_time()
            tasks_json = json.loads(page)["data"]["tasks"]
            r["history_json_ms"] = (time.process_time() - t0) * 1000
            r["history_page"] = len(tasks_json)
            r["history_total"] = json.loads(page)["data"].get("totalPage")
            r["parse_tasks_ms"] = best(lambda: [parse_task(t) for t in tasks_json]) * 1000

            # ---------------------------------------------------------------- a big result
            tid, eid = sync.submit(LinkisSubmit(code=SQL, run_type="sql", engine="spark-2.4.3"))
            moved = 0
            while not sync.status(eid, tid).done and moved < 600:
                st.advance(2)
                moved += 2
            st.advance(20)  # past the moment its results are still being written
            task = sync.task(tid)
            paths = sync.result_paths(task, wait=30)
            t0 = time.perf_counter()
            rs = fetch_result(sync, paths[0])
            r["fetch_s"] = time.perf_counter() - t0
            r["rows"], r["columns"] = len(rs.rows), len(rs.columns)
            body = raw.get(api + "/filesystem/openFile", params={"path": paths[0], "page": 1,
                                                                 "pageSize": 5000}).content
            data = json.loads(body)["data"]
            r["page_kib"] = len(body) / 1024
            r["parse_page_ms"] = best(lambda: parse_result(paths[0], data)) * 1000
            r["csv_ms"] = best(lambda: write_result(rs, io.StringIO(), "csv"), 3) * 1000
            r["json_ms"] = best(lambda: write_result(rs, io.StringIO(), "json"), 3) * 1000
        finally:
            raw.close()
            sync.close()
    big = rs.model_copy(update={"rows": tuple(rs.rows) * (SCREEN_ROWS // max(1, len(rs.rows))),
                                "total_lines": SCREEN_ROWS})
    r["table_rows"] = len(big.rows)
    r.update(asyncio.run(table_figures(big)))
    return r


async def table_figures(rs) -> dict:
    from textual.app import App

    from widgets.result_table import ResultTable

    class One(App):
        def compose(self):
            yield ResultTable(id="t")

    out: dict = {}
    app = One()
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.query_one(ResultTable)

        async def timed(fn) -> tuple[float, float]:
            """(the call's own time on the UI thread, the time to the frame drawn), in ms."""
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            await pilot.pause()
            return (t1 - t0) * 1000, (time.perf_counter() - t0) * 1000
        out["show_call_ms"], out["show_ms"] = await timed(lambda: table.show(rs))
        numeric = next(i for i, c in enumerate(rs.columns) if c.type in ("double", "decimal", "float"))
        text = next(i for i, c in enumerate(rs.columns) if c.type == "string")
        async def sort(column: int) -> tuple[float, float]:
            """(the key's time on the UI thread, the time until the sorted first page is drawn)."""
            table.move_cursor(column=column)
            t0 = time.perf_counter()
            table.sort_current()
            on_ui = time.perf_counter() - t0
            while table.sorting:
                await pilot.pause(0.01)
            await pilot.pause()
            return on_ui * 1000, (time.perf_counter() - t0) * 1000
        out["sort_number_ui_ms"], out["sort_number_ms"] = await sort(numeric)
        out["sort_text_ui_ms"], out["sort_text_ms"] = await sort(text)
        turns = sorted([await timed(lambda: table.page(1)) for _ in range(5)], key=lambda t: t[1])
        out["page_call_ms"], out["page_ms"] = turns[2]  # the median of 5 page turns (a GC pass may land in one)
    return out


def page_rows() -> int:
    from widgets.result_table import PAGE_ROWS
    return PAGE_ROWS


def rows_of(r: dict) -> list[tuple[str, str, str]]:
    return [
        ("Linkis poller round, seeded history", f"{r['poll_seeded_s'] * 1000:.0f} ms",
         f"{r['tasks_seeded']} tasks (every user's: admin view), the running ones' status and progress asked too"),
        (f"Linkis poller round, {EXTRA_JOBS} more jobs", f"{r['poll_more_s'] * 1000:.0f} ms",
         f"{r['tasks_more']} tasks ({r['history_total']} in the gateway's history), {r['running']} running; median "
         "of 5 rounds"),
        ("parse of a history page (backends.linkis.parse_task)", f"{r['parse_tasks_ms']:.1f} ms",
         f"{r['history_page']} tasks, CPU best of 5; its JSON decode {r['history_json_ms']:.1f} ms"),
        (f"fetch_result of a {r['rows']:,}-row result", f"{r['fetch_s']:.2f} s",
         f"{r['columns']} columns in 5,000-row pages over loopback HTTPS (GET, JSON, parse), in the detail "
         "screen's worker"),
        ("parse of one 5,000-row page (parse_result)", f"{r['parse_page_ms']:.1f} ms",
         f"{r['page_kib']:.0f} KiB of JSON, CPU best of 5"),
        (f"{r['rows']:,} rows written as CSV / JSON", f"{r['csv_ms']:.0f} / {r['json_ms']:.0f} ms",
         "write_result (the CLI's stdout, the save action's file), CPU best of 3"),
        (f"result table: {r['table_rows']:,} rows shown", f"{r['show_ms']:.0f} ms",
         f"to the frame drawn (200x50); the call itself {r['show_call_ms']:.0f} ms on the UI thread (the table holds "
         f"one page of {page_rows()} rows), the rest Textual drawing the DataTable"),
        ("result table: sorted by a number / a text column", f"{r['sort_number_ms']:.0f} / {r['sort_text_ms']:.0f} ms",
         f"every one of the {r['table_rows']:,} rows, typed (NULLs last), in a thread, to the first page drawn; the "
         f"key's own time on the UI thread {r['sort_number_ui_ms']:.1f} / {r['sort_text_ui_ms']:.1f} ms"),
        ("result table: next page", f"{r['page_ms']:.0f} ms",
         f"{page_rows()} rows, to the frame drawn, median of 5; the call itself {r['page_call_ms']:.0f} ms"),
    ]


def section(rows: list[tuple[str, str, str]], by: str) -> list[str]:
    from tests.bench_alerts import table_section
    return table_section("Linkis", by, "a `small` simulator's Linkis gateway over loopback HTTPS, the console's own "
                         "client, its clock moved by hand", rows)


def linkis_section(by: str = "`make bench`") -> list[str]:
    rows = rows_of(measure())
    width = max(len(n) for n, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    return section(rows, by)


if __name__ == "__main__":
    from tests.bench_alerts import write_section
    print(f"written to {write_section(linkis_section('`python -m tests.bench_linkis`'), 'Linkis')}")
