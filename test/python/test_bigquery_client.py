"""The analyst's own client against Lookout's embedded stack: google-cloud-bigquery 3.x with pandas.

Run by test/integration/python-client.test.ts, which inserts the rows of two load-test runs (the report
fixtures: ok, failed at each stage, fell back, retried) and starts this file from a shell that did
`eval "$(node bin/lookout env)"`: the endpoint and names come from `lookout env`, as for a user.
Environment: BIGQUERY_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, LOOKOUT_BIGQUERY_TABLE_ID, LOOKOUT_BIGQUERY_VIEW_ID
(from `lookout env`); LOOKOUT_TEST_RUN (run tag of the rows) and LOOKOUT_TEST_ROWS (a JSON file of the rows
as inserted) from the wrapper.

Every call here is written the way the README tells users to write it; nothing works around the stack.
"""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

ROOT = Path(__file__).resolve().parents[2]


def ts(text):
    return pd.Timestamp(text).tz_convert("UTC") if pd.Timestamp(text).tzinfo else pd.Timestamp(text, tz="UTC")


def newest_per_analysis(rows):
    best = {}
    for r in rows:
        cur = best.get(r["workflow_id"])
        if cur is None or (r["recorded_at"], r["analysis_id"]) > (cur["recorded_at"], cur["analysis_id"]):
            best[r["workflow_id"]] = r
    return best


@pytest.fixture(scope="module")
def ctx():
    return SimpleNamespace(
        table=os.environ["LOOKOUT_BIGQUERY_TABLE_ID"],
        view=os.environ["LOOKOUT_BIGQUERY_VIEW_ID"],
        run=os.environ["LOOKOUT_TEST_RUN"],
        rows=json.loads(Path(os.environ["LOOKOUT_TEST_ROWS"]).read_text()),
    )


@pytest.fixture(scope="module")
def client():
    # The emulator needs no credentials; BIGQUERY_EMULATOR_HOST (from `lookout env`) is the endpoint.
    return bigquery.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())


def run_param(run):
    return bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("run", "STRING", run)])


def test_endpoint_is_the_one_lookout_env_prints(client, ctx):
    assert os.environ["BIGQUERY_EMULATOR_HOST"].startswith("http://127.0.0.1:")
    assert client._connection.API_BASE_URL == os.environ["BIGQUERY_EMULATOR_HOST"]


def test_dataframe_of_the_results_table(client, ctx):
    df = client.query(f"SELECT * FROM `{ctx.table}` WHERE run_tag = @run", job_config=run_param(ctx.run)).to_dataframe()
    assert len(df) == len(ctx.rows)  # every physical row, the retried analysis twice
    assert isinstance(df["recorded_at"].dtype, pd.DatetimeTZDtype) and str(df["recorded_at"].dt.tz) == "UTC"
    assert str(df["inference_ms"].dtype) == "float64" and str(df["size_bytes"].dtype) == "Int64"
    want = {r["analysis_id"]: r for r in ctx.rows}
    for _, row in df.iterrows():
        w = want[row["analysis_id"]]
        assert row["status"] == w["status"]
        # Top-level TIMESTAMPs keep their milliseconds.
        assert row["recorded_at"] == ts(w["recorded_at"])
        assert row["object_created_at"] == ts(w["object_created_at"])
        if w["completed_at"] is None:
            assert pd.isna(row["completed_at"])
        else:
            assert row["completed_at"] == ts(w["completed_at"])
        # Never measured is NULL (NaN in pandas), not 0.
        if w["inference_ms"] is None:
            assert pd.isna(row["inference_ms"])
        else:
            assert row["inference_ms"] == pytest.approx(w["inference_ms"])
    failed = df[df["status"] == "failed"]
    assert len(failed) > 0 and failed["inference_ms"].isna().all() and failed["end_to_end_ms"].isna().all()


def test_dataframe_of_the_view_one_row_per_analysis(client, ctx):
    df = client.query(f"SELECT * FROM `{ctx.view}` WHERE run_tag = @run", job_config=run_param(ctx.run)).to_dataframe()
    newest = newest_per_analysis(ctx.rows)
    assert sorted(df["workflow_id"]) == sorted(newest)
    assert sorted(df["analysis_id"]) == sorted(r["analysis_id"] for r in newest.values())
    ok = df[df["status"] == "ok"]
    want_ok = sorted(r["inference_ms"] for r in newest.values() if r["status"] == "ok")
    assert sorted(ok["inference_ms"]) == pytest.approx(want_ok)
    # Percentile in pandas over what completed (the failed rows' NULLs are skipped, not counted as 0).
    assert df["inference_ms"].median() == pytest.approx(pd.Series(want_ok).median())


def test_parameterised_query_with_query_and_wait(client, ctx):
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("run", "STRING", ctx.run),
            bigquery.ArrayQueryParameter("classes", "STRING", ["CorruptImage", "NotAnImage"]),
        ]
    )
    rows = client.query_and_wait(
        f"SELECT error_class, COUNT(*) AS n FROM `{ctx.view}` WHERE run_tag = @run AND error_class IN UNNEST(@classes) "
        "GROUP BY error_class ORDER BY error_class",
        job_config=config,
    )
    got = {r["error_class"]: r["n"] for r in rows}
    newest = newest_per_analysis(ctx.rows).values()
    want = {}
    for r in newest:
        if r["error_class"] in ("CorruptImage", "NotAnImage"):
            want[r["error_class"]] = want.get(r["error_class"], 0) + 1
    assert got == want and sum(got.values()) >= 2


def test_unnest_over_stages(client, ctx):
    df = client.query(
        f"SELECT name, st.stage, st.pool, st.queue_ms, st.run_ms, st.fell_back, st.started_at, st.started_offset_ms "
        f"FROM `{ctx.view}`, UNNEST(stages) AS st WHERE run_tag = @run ORDER BY name, st.started_offset_ms",
        job_config=run_param(ctx.run),
    ).to_dataframe()
    want = [(r["name"], s) for r in newest_per_analysis(ctx.rows).values() for s in r["stages"]]
    assert len(df) == len(want) > 0
    by = {(n, s["stage"]): s for n, s in want}
    for _, row in df.iterrows():
        s = by[(row["name"], row["stage"])]
        assert row["queue_ms"] == pytest.approx(s["queue_ms"])
        assert bool(row["fell_back"]) == bool(s["fell_back"])
        # UNNEST makes the stage's TIMESTAMPs columns of their own: exact (inside a record they would keep
        # whole seconds only, an emulator limit: see the README).
        assert row["started_at"] == ts(s["started_at"])
        assert row["started_offset_ms"] == pytest.approx(s["started_offset_ms"])
    assert df["fell_back"].sum() == sum(1 for _, s in want if s["fell_back"])


def test_list_rows_of_the_table_in_pages(client, ctx):
    table = client.get_table(ctx.table)
    assert "stages" in [f.name for f in table.schema]
    df = client.list_rows(table, page_size=7).to_dataframe()
    mine = df[df["run_tag"] == ctx.run]
    assert sorted(mine["analysis_id"]) == sorted(r["analysis_id"] for r in ctx.rows)
    one = mine.set_index("analysis_id").loc[ctx.rows[0]["analysis_id"]]
    assert one["recorded_at"] == ts(ctx.rows[0]["recorded_at"])
    first = list(client.list_rows(table, max_results=3))
    assert len(first) == 3


def test_query_rows_as_python_objects(client, ctx):
    rows = list(client.query(f"SELECT analysis_id, recorded_at, stages FROM `{ctx.view}` WHERE run_tag = @run", job_config=run_param(ctx.run)).result())
    want = newest_per_analysis(ctx.rows)
    assert len(rows) == len(want)
    for r in rows:
        assert isinstance(r["recorded_at"], datetime) and r["recorded_at"].tzinfo == timezone.utc
        assert isinstance(r["stages"], list)


def test_api_method_query(client, ctx):
    job = client.query(f"SELECT COUNT(*) AS n FROM `{ctx.table}` WHERE run_tag = @run", job_config=run_param(ctx.run), api_method="QUERY")
    assert [r["n"] for r in job.result()] == [len(ctx.rows)]
    # The job it names exists: reload and the DataFrame both reach it.
    assert client.get_job(job.job_id).state == "DONE"
    assert job.to_dataframe()["n"].tolist() == [len(ctx.rows)]


def test_a_typo_fails_at_once_as_bad_request(client, ctx):
    t0 = time.monotonic()
    with pytest.raises(exceptions.BadRequest) as e:
        client.query(f"SELEC status FROM `{ctx.table}`").result()  # default retry settings, as a user runs it
    assert e.value.errors[0]["reason"] == "invalidQuery"
    # Not retried: the default job_retry would keep retrying a retryable reason for 10 minutes.
    assert time.monotonic() - t0 < 60


def test_a_missing_table_is_not_found(client, ctx):
    with pytest.raises(exceptions.NotFound):
        client.query_and_wait(f"SELECT 1 FROM `{ctx.table}_nope`")


def test_the_example_script_plots_a_run(tmp_path, ctx):
    out = tmp_path / "latency.png"
    subprocess.run([sys.executable, str(ROOT / "examples" / "latency_distribution.py"), "--run", ctx.run, "--out", str(out)], check=True, timeout=300)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
