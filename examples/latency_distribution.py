"""Notebook-style example: load one run of Lookout's results into pandas and plot its latency distribution.

    eval "$(node bin/lookout env)"            # the endpoint and table names (embedded stack or real BigQuery)
    .lookout/analyst-venv/bin/python examples/latency_distribution.py --run RUN_TAG --out latency.png

Reads the de-duplicating view (one row per analysis), keeps what completed for the latency panels (a failed
analysis has no end-to-end or inference time: NULL, not 0) and counts the failures by class. Against the
embedded stack the client needs no credentials; against BigQuery it uses Application Default Credentials.
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")  # files, no display
import matplotlib.pyplot as plt  # noqa: E402
from google.cloud import bigquery  # noqa: E402


def client() -> bigquery.Client:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "lookout-local")
    if os.environ.get("BIGQUERY_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(project=project, credentials=AnonymousCredentials())
    return bigquery.Client(project=project)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="run tag (lookout loadtest / upload --run)")
    ap.add_argument("--out", default="latency.png", help="PNG to write")
    ap.add_argument("--view", default=os.environ.get("LOOKOUT_BIGQUERY_VIEW_ID", "lookout-local.lookout.analyses_latest"))
    args = ap.parse_args()

    # %% Load the run: one row per analysis.
    df = client().query(
        f"""SELECT name, status, error_class, end_to_end_ms, pipeline_ms, inference_ms,
                   (SELECT SUM(st.queue_ms) FROM UNNEST(stages) AS st) AS queue_ms
            FROM `{args.view}` WHERE run_tag = @run""",
        job_config=bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("run", "STRING", args.run)]),
    ).to_dataframe()
    if df.empty:
        raise SystemExit(f"no rows for run {args.run!r} in {args.view}")
    ok = df[df["status"] == "ok"]
    failed = df[df["status"] == "failed"]

    # %% Summary, as summary.sql computes it (percentiles over what completed).
    print(f"run {args.run}: {len(df)} analyses, {len(ok)} ok, {len(failed)} failed")
    print(ok[["end_to_end_ms", "pipeline_ms", "inference_ms", "queue_ms"]].quantile([0.5, 0.9, 0.99]).round(1).to_string())

    # %% Plot: end-to-end and inference distributions, failures by class.
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, col, color in ((axes[0], "end_to_end_ms", "#3b7dd8"), (axes[1], "inference_ms", "#2a9d55")):
        values = ok[col].dropna()
        ax.hist(values, bins=min(40, max(5, len(values) // 2)), color=color)
        for q, style in ((0.5, "-"), (0.99, "--")):
            ax.axvline(values.quantile(q), color="k", linestyle=style, label=f"p{int(q * 100)} {values.quantile(q):.0f} ms")
        ax.set_xlabel(f"{col} (completed analyses)")
        ax.set_ylabel("analyses")
        ax.legend()
    counts = failed["error_class"].value_counts()
    axes[2].bar(counts.index.astype(str), counts.values, color="#c0392b")
    axes[2].set_title(f"failed: {len(failed)} of {len(df)}")
    axes[2].tick_params(axis="x", rotation=30)
    fig.suptitle(f"Lookout run {args.run}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
