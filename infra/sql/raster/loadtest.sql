-- Raster load study (seed 003's, over rasters): one row per engine variant of the backbone (raster.backbone:
-- mobilenetv2 = fp32, mobilenetv2-int8, mobilenetv2-fp16), from the rows of one run (`lookout loadtest
-- --pipeline raster --source DIR --variants ...`, which runs the variants one after another).
--   rasters, chips, chips_failed   from the rasters' summary rows
--   wall_s                         first raster uploaded -> last summary row completed, for this variant
--   chips_per_s                    chips / wall_s
--   raster_e2e_p50/p90/p99_ms      per raster: upload -> summary row (planning, every block, finishing)
--   read/backbone/score _p50/_p99  per chip, run time of the chip's stages: detect = the block's windowed
--                                  read (its share per chip), extract = backbone features (before + after),
--                                  score = indices, change, novelty and a chip classifier's head
--   head_queue_p50/p99_ms          per chip, two-stage placement only: wait of the head's activity for a worker on
--                                  its pool (0 when the head runs inside the block activity)
-- Percentile = value at rank round(p * (n - 1)) of the sorted values (as summary.sql).
-- Runs unchanged in the BigQuery console: set @run and the dataset name `lookout`.
WITH runs AS (
  SELECT latest.* FROM (
    SELECT ARRAY_AGG(t ORDER BY t.recorded_at DESC, t.analysis_id DESC LIMIT 1)[OFFSET(0)] AS latest
    FROM `lookout.analyses` AS t
    WHERE t.run_tag = @run
    GROUP BY t.workflow_id
  )
),
rasters AS (
  SELECT
    raster.backbone AS variant,
    COUNT(*) AS rasters,
    SUM(raster.chips) AS chips,
    SUM(raster.chips_failed) AS chips_failed,
    TIMESTAMP_DIFF(MAX(completed_at), MIN(object_created_at), MILLISECOND) / 1000.0 AS wall_s,
    ARRAY_AGG(end_to_end_ms IGNORE NULLS ORDER BY end_to_end_ms) AS e2e
  FROM runs
  WHERE raster.kind = 'summary'
  GROUP BY variant
),
stage_runs AS (
  SELECT
    raster.backbone AS variant,
    st.stage AS stage,
    ARRAY_AGG(st.run_ms IGNORE NULLS ORDER BY st.run_ms) AS r,
    ARRAY_AGG(st.queue_ms IGNORE NULLS ORDER BY st.queue_ms) AS q
  FROM runs, UNNEST(stages) AS st
  WHERE raster.kind = 'chip' AND status = 'ok'
  GROUP BY variant, stage
),
stage_pct AS (
  SELECT
    variant,
    stage,
    r[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(r) - 1)) AS INT64))] AS run_p50,
    r[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(r) - 1)) AS INT64))] AS run_p99,
    q[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p50,
    q[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(q) - 1)) AS INT64))] AS queue_p99
  FROM stage_runs
),
stages AS (
  SELECT
    variant,
    MAX(IF(stage = 'detect', run_p50, NULL)) AS read_p50_ms,
    MAX(IF(stage = 'detect', run_p99, NULL)) AS read_p99_ms,
    MAX(IF(stage = 'extract', run_p50, NULL)) AS backbone_p50_ms,
    MAX(IF(stage = 'extract', run_p99, NULL)) AS backbone_p99_ms,
    MAX(IF(stage = 'score', run_p50, NULL)) AS score_p50_ms,
    MAX(IF(stage = 'score', run_p99, NULL)) AS score_p99_ms,
    MAX(IF(stage = 'score', queue_p50, NULL)) AS head_queue_p50_ms,
    MAX(IF(stage = 'score', queue_p99, NULL)) AS head_queue_p99_ms
  FROM stage_pct
  GROUP BY variant
)
SELECT
  r.variant,
  r.rasters,
  r.chips,
  r.chips_failed,
  ROUND(r.wall_s, 3) AS wall_s,
  ROUND(SAFE_DIVIDE(r.chips, r.wall_s), 3) AS chips_per_s,
  r.e2e[SAFE_OFFSET(CAST(ROUND(0.5 * (ARRAY_LENGTH(r.e2e) - 1)) AS INT64))] AS raster_e2e_p50_ms,
  r.e2e[SAFE_OFFSET(CAST(ROUND(0.9 * (ARRAY_LENGTH(r.e2e) - 1)) AS INT64))] AS raster_e2e_p90_ms,
  r.e2e[SAFE_OFFSET(CAST(ROUND(0.99 * (ARRAY_LENGTH(r.e2e) - 1)) AS INT64))] AS raster_e2e_p99_ms,
  s.read_p50_ms,
  s.read_p99_ms,
  s.backbone_p50_ms,
  s.backbone_p99_ms,
  s.score_p50_ms,
  s.score_p99_ms,
  s.head_queue_p50_ms,
  s.head_queue_p99_ms
FROM rasters AS r
LEFT JOIN stages AS s ON s.variant = r.variant
ORDER BY r.variant
