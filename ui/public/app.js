// Lookout review UI: one page per hash route, each reading the server's JSON API (ui/server.ts).
// Charts: Vega-Lite through vega-embed; map: Leaflet (map.js), no tiles.
import { mapPage as mapPageOf } from './map.js';
import { zonesPage as zonesPageOf } from './zones.js';
const main = document.getElementById('main');
const statusEl = document.getElementById('status');
let info = { pipelines: [], writesNeedToken: false };
let timers = [];
let map = null;

const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const fmt = (v, d = 1) =>
  v === null || v === undefined || v === ''
    ? ''
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? String(v)
        : v.toFixed(d)
      : esc(typeof v === 'object' && 'value' in v ? v.value : v);
const say = (t) => {
  statusEl.textContent = t;
};
const tokenHeader = () => {
  const t = sessionStorage.getItem('lookout-token');
  return t ? { authorization: `Bearer ${t}` } : {};
};

async function api(path, opts = {}) {
  const res = await fetch(path, {
    ...opts,
    headers: { ...(opts.headers || {}), ...(opts.method && opts.method !== 'GET' ? tokenHeader() : {}) },
  });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body?.error ?? `${res.status} ${res.statusText}`);
  return body;
}
const post = (path, body) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Polls `fn` every `ms` until the page changes. */
function every(ms, fn) {
  const id = setInterval(() => fn().catch((e) => say(e.message)), ms);
  timers.push(id);
}

function table(cols, rows, caption) {
  const head = cols.map((c) => `<th scope="col" class="${c.num ? 'num' : ''}">${esc(c.title)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${cols.map((c) => `<td class="${c.num ? 'num' : ''}">${c.html ? c.html(r) : fmt(r[c.key], c.digits)}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<div class="scroll" tabindex="0" role="region" aria-label="${esc(
    caption ||
      cols
        .map((c) => c.title)
        .slice(0, 3)
        .join(', '),
  )} table"><table>${caption ? `<caption class="muted">${esc(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${cols.length}" class="muted">nothing yet</td></tr>`}</tbody></table></div>`;
}

function chart(el, spec, description) {
  const size = spec.facet || spec.hconcat ? {} : { width: 'container', height: 200 };
  return vegaEmbed(
    el,
    {
      description: description ?? spec.description ?? 'chart',
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      ...size,
      ...spec,
    },
    { actions: false, renderer: 'svg' },
  );
}

/** Draws an image (URL) with boxes on a canvas; the boxes are in the image's pixel coordinates. */
function drawFrame(container, src, objects, alt) {
  const img = new Image();
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', alt);
  container.appendChild(canvas);
  return new Promise((resolve) => {
    img.onload = () => {
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      g.lineWidth = Math.max(2, img.naturalWidth / 300);
      g.font = `${Math.max(12, img.naturalWidth / 50)}px sans-serif`;
      for (const o of objects || []) {
        const bad = o.anomaly_score !== null && o.anomaly_score !== undefined && o.anomaly_score > 0;
        g.strokeStyle = bad ? '#e63946' : '#2ec4b6';
        g.strokeRect(o.x, o.y, o.w, o.h);
        g.fillStyle = g.strokeStyle;
        g.fillText(`${o.label} ${Number(o.anomaly_score ?? o.score).toFixed(2)}`, o.x, Math.max(12, o.y - 3));
      }
      resolve(true);
    };
    img.onerror = () => {
      container.insertAdjacentHTML('beforeend', `<p class="muted">image unavailable</p>`);
      resolve(false);
    };
    img.src = src;
  });
}

// ---------------------------------------------------------------- Runs
async function runsPage() {
  main.innerHTML = `<h1>Runs</h1><div id="runs-table">Loading…</div><h2>Compare two runs</h2>
  <form class="inline" id="compare"><label for="run-a">Run</label><select id="run-a"></select><label for="run-b">versus</label><select id="run-b"></select><button type="submit">Compare</button></form>`;
  const runs = await api('/api/runs');
  document.getElementById('runs-table').innerHTML = table(
    [
      { title: 'run', html: (r) => `<a href="#/run/${encodeURIComponent(r.run_tag)}">${esc(r.run_tag)}</a>` },
      { title: 'pipelines', key: 'pipelines' },
      { title: 'analyses', key: 'analyses', num: true },
      { title: 'ok', key: 'ok', num: true },
      { title: 'failed', key: 'failed', num: true },
      {
        title: 'failures by class',
        html: (r) => r.failures.map((f) => `<span class="bad">${esc(f.error_class)} ×${f.n}</span>`).join(', '),
      },
      { title: 'wall s', key: 'wall_s', num: true },
      { title: 'analyses / s', html: (r) => (r.wall_s > 0 ? (r.analyses / r.wall_s).toFixed(2) : ''), num: true },
      { title: 'e2e p50 ms', key: 'e2e_p50', num: true, digits: 0 },
      { title: 'e2e p95 ms', key: 'e2e_p95', num: true, digits: 0 },
      { title: 'last row', key: 'last_recorded_at' },
    ],
    runs,
  );
  const opts = runs.map((r) => `<option>${esc(r.run_tag)}</option>`).join('');
  document.getElementById('run-a').innerHTML = opts;
  document.getElementById('run-b').innerHTML = opts;
  if (runs.length > 1) document.getElementById('run-b').selectedIndex = 1;
  document.getElementById('compare').onsubmit = (e) => {
    e.preventDefault();
    location.hash = `#/run/${encodeURIComponent(document.getElementById('run-a').value)}?vs=${encodeURIComponent(document.getElementById('run-b').value)}`;
  };
}

async function runPage(run, vs) {
  main.innerHTML = `<h1>Run ${esc(run)}${vs ? ` <span class="muted">versus</span> ${esc(vs)}` : ''}</h1><p><a href="#/runs">All runs</a></p><div id="report">Loading the report (infra/sql)…</div>`;
  const r = await api(`/api/runs/${encodeURIComponent(run)}/report${vs ? `?vs=${encodeURIComponent(vs)}` : ''}`);
  const el = document.getElementById('report');
  el.innerHTML = `<h2>End-to-end latency (${r.latencies.length} completed analyses)</h2><div id="c-lat" class="chart" style="width:100%"></div>
    <h2>Throughput: analyses finished per second</h2><div id="c-tp" style="width:100%"></div>
    <h2>Per-hop latency (ms from the previous hop)</h2><div id="c-hops" style="width:100%"></div>
    <h2>Per-stage run time and queue wait</h2><div id="c-stage" style="width:100%"></div>
    ${r.sections
      .map(
        (s) =>
          `<h2>${esc(s.title)}</h2>${table(
            Object.keys(s.rows[0] || {}).map((k) => ({
              title: k,
              key: k,
              num: typeof s.rows[0][k] === 'number',
              digits: 2,
            })),
            s.rows,
          )}`,
      )
      .join('')}
    <h2>Analyses of this run</h2><div id="rows"></div>`;
  await chart(
    '#c-lat',
    {
      data: { values: r.latencies.map((ms) => ({ ms })) },
      mark: 'bar',
      encoding: {
        x: { field: 'ms', bin: { maxbins: 30 }, title: 'end-to-end ms' },
        y: { aggregate: 'count', title: 'analyses' },
      },
    },
    'Histogram of end-to-end latency',
  );
  await chart(
    '#c-tp',
    {
      data: {
        values: r.timeline.flatMap((t) => [
          { second: t.second, n: t.finished - t.failed, status: 'ok' },
          { second: t.second, n: t.failed, status: 'failed' },
        ]),
      },
      mark: 'bar',
      encoding: {
        x: { field: 'second', type: 'ordinal', title: 'seconds since the first object was created' },
        y: { field: 'n', type: 'quantitative', stack: true, title: 'analyses' },
        color: { field: 'status', scale: { domain: ['ok', 'failed'], range: ['#1a6b35', '#a4161a'] } },
      },
    },
    'Analyses finished per second, ok and failed',
  );
  const hops = await api(`/api/runs/${encodeURIComponent(run)}/hops`);
  const HOPS = [
    ['publish', 'created → published'],
    ['dispatch', 'published → dispatched'],
    ['start', 'dispatched → workflow started'],
    ['stages', 'workflow started → last stage done'],
  ];
  // One chart per hop, each binned over its own range (a hop of 5 ms and one of 2 s share no useful bins).
  await chart(
    '#c-hops',
    {
      hconcat: HOPS.map(([k, title]) => ({
        title,
        width: 220,
        height: 140,
        data: { values: hops.filter((h) => h[k] !== null).map((h) => ({ ms: Number(h[k]) })) },
        mark: 'bar',
        encoding: {
          x: { field: 'ms', bin: { maxbins: 20 }, title: 'ms' },
          y: { aggregate: 'count', title: 'analyses' },
        },
      })),
    },
    'Histograms of the time spent in each hop',
  );
  const stages = (r.sections.find((s) => s.title.startsWith('Stages')) || { rows: [] }).rows;
  const pcol = (row, re) => Object.keys(row).find((k) => re.test(k));
  const stageVals = stages.flatMap((s) => {
    const run = pcol(s, /^run.*p50|^run_p50|run_ms_p50/);
    const q = pcol(s, /^queue.*p50|queue_ms_p50/);
    return [
      run && { stage: `${s.stage} (${s.pool ?? ''})`, part: 'run p50', ms: Number(s[run]) },
      q && { stage: `${s.stage} (${s.pool ?? ''})`, part: 'queue p50', ms: Number(s[q]) },
    ].filter(Boolean);
  });
  await chart(
    '#c-stage',
    {
      data: { values: stageVals },
      mark: 'bar',
      encoding: {
        y: { field: 'stage', type: 'nominal' },
        x: { field: 'ms', type: 'quantitative', title: 'ms (median)' },
        color: { field: 'part', type: 'nominal' },
      },
    },
    'Median run time and queue wait per stage and pool',
  );
  const rows = await api(`/api/runs/${encodeURIComponent(run)}/rows`);
  document.getElementById('rows').innerHTML = rowsTable(rows);
}

function rowsTable(rows) {
  return table(
    [
      { title: 'object', html: (r) => `<a href="#/analysis/${encodeURIComponent(r.workflow_id)}">${esc(r.name)}</a>` },
      { title: 'status', html: (r) => `<span class="${r.status === 'ok' ? 'ok' : 'bad'}">${esc(r.status)}</span>` },
      { title: 'label', key: 'label' },
      { title: 'score', key: 'score', num: true, digits: 3 },
      { title: 'objects', html: (r) => String((r.objects || []).length), num: true },
      {
        title: 'error',
        html: (r) => (r.error_class ? `${esc(r.error_class)}: ${esc((r.error_message || '').slice(0, 80))}` : ''),
      },
    ],
    rows,
  );
}

async function analysisPage(wf) {
  const r = await api(`/api/analysis?wf=${encodeURIComponent(wf)}`);
  main.innerHTML = `<h1>Analysis</h1><p class="muted">${esc(wf)}</p><div class="row-detail" data-testid="row-detail" tabindex="0">${esc(JSON.stringify(r, null, 2))}</div>`;
}

// ---------------------------------------------------------------- Alerts
async function alertsPage() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  main.innerHTML = `<h1>Alerts</h1><p class="muted">One card per alert episode (a span of frames the scene's model found unusual, or in which a zone's rule was broken — reason <em>rule</em>; merged as an operator counts alerts), newest first, each with its reasons. Dismissed alerts join the scene's normal footage at the next <code>lookout fit --with-dismissed</code>; confirmed ones never do.</p>
    <form id="alert-filters" class="filters" aria-label="Filter alerts"></form><p id="alert-count" class="muted"></p><div id="alerts" class="cards">Loading…</div>`;
  const res = await api(`/api/alerts?${params}`);
  const form = document.getElementById('alert-filters');
  const select = (name, label, values) =>
    `<label>${label} <select id="filter-${name}" name="${name}"><option value="">all</option>${values.map((v) => `<option value="${esc(v)}"${params.get(name) === v ? ' selected' : ''}>${esc(v)}</option>`).join('')}</select></label>`;
  form.innerHTML =
    select('scene', 'Scene', res.choices.scene) +
    ' ' +
    select('camera', 'Camera', res.choices.camera) +
    ' ' +
    select('reason', 'Reason', res.choices.reason) +
    ' ' +
    select('verdict', 'Verdict', res.choices.verdict) +
    ' <button type="submit">Filter</button>';
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams([...new FormData(form).entries()].filter(([, v]) => v));
    location.hash = `#/alerts${q.toString() ? `?${q}` : ''}`;
  };
  for (const sel of form.querySelectorAll('select')) sel.onchange = () => form.requestSubmit();
  const alerts = res.alerts;
  document.getElementById('alert-count').textContent = `${alerts.length} of ${res.total} alerts`;
  const el = document.getElementById('alerts');
  el.innerHTML = alerts.length ? '' : '<p>No alerts.</p>';
  for (const a of alerts) {
    const d = safeJson(a.details);
    const card = document.createElement('article');
    card.className = 'card';
    card.dataset.workflowId = a.workflow_id;
    const clip = d.clip ? `<a href="/api/object?uri=${encodeURIComponent(d.clip)}">clip</a>` : '';
    const span =
      d.start_frame !== undefined
        ? `frames ${esc(d.start_frame)}–${esc(d.end_frame)} (${fmt(d.start_s, 1)}–${fmt(d.end_s, 1)} s)`
        : '';
    card.innerHTML = `<h2>${esc(a.camera)}${span ? ` · ${span}` : ''}</h2>
      ${d.reason_kind === 'rule' ? `<p class="rule" data-testid="rule">Rule of zone <strong>${esc(d.zone)}</strong>: ${esc(d.rule_text)} (<a href="#/zones?scene=${encodeURIComponent(a.scene ?? '')}">zones</a>)</p>` : ''}
      <p>peak frame ${esc(d.peak_frame ?? d.frame)} · alert raised at ${fmt(d.alert_s, 1)} s${a.score !== null && a.score !== undefined ? ` · score <strong>${fmt(a.score, 3)}</strong>` : ''} · ${esc(a.pipeline)}${a.scene ? ` · scene ${esc(a.scene)}` : ''} ${clip}</p>
      <div class="frame"></div>
      <ul class="reasons" data-testid="reasons">${a.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
      <div class="timeline" style="width:100%"></div>
      <p class="verdict" data-testid="verdict">${a.verdict ? `Verdict: <strong>${esc(a.verdict)}</strong>` : 'Not reviewed'}</p>
      <button type="button" data-verdict="confirmed">Confirm</button> <button type="button" class="secondary" data-verdict="dismissed">Dismiss</button>`;
    el.appendChild(card);
    if (d.annotated)
      await drawFrame(
        card.querySelector('.frame'),
        `/api/object?uri=${encodeURIComponent(d.annotated)}`,
        [],
        `annotated peak frame of the alert on ${a.camera}`,
      );
    for (const b of card.querySelectorAll('button[data-verdict]')) {
      b.setAttribute('aria-label', `${b.textContent} alert ${a.camera}${span ? ` ${span}` : ''}`);
      b.onclick = async () => {
        b.disabled = true;
        try {
          const fb = await post('/api/feedback', { workflowId: a.workflow_id, verdict: b.dataset.verdict });
          card.querySelector('.verdict').innerHTML =
            `Verdict: <strong>${esc(fb.verdict)}</strong> (recorded ${esc(fb.recorded_at)})`;
          say(`${fb.verdict}: ${a.camera}`);
        } catch (e) {
          say(e.message);
        } finally {
          b.disabled = false;
        }
      };
    }
    if (d.start_frame !== undefined) {
      const q = new URLSearchParams({ pipeline: a.pipeline, bucket: a.bucket, name: a.name, generation: a.generation });
      api(`/api/timeline?${q}`)
        .then(
          (frames) =>
            frames.length > 1 &&
            chart(
              card.querySelector('.timeline'),
              {
                height: 90,
                data: { values: frames },
                layer: [
                  {
                    mark: { type: 'rect', color: '#e63946', opacity: 0.2, aria: false },
                    encoding: { x: { datum: d.start_frame }, x2: { datum: d.end_frame } },
                  },
                  {
                    mark: 'line',
                    encoding: {
                      x: { field: 'frame', type: 'quantitative' },
                      y: { field: 'score', type: 'quantitative', title: 'frame score' },
                    },
                  },
                ],
              },
              `Frame scores over the video ${a.name}, the alert episode shaded`,
            ),
        )
        .catch(() => {});
    }
  }
}

function safeJson(s) {
  try {
    return JSON.parse(s || '{}') || {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------- Live
async function livePage() {
  main.innerHTML = `<h1>Live streams</h1><p class="muted">The newest analysed frame of each stream, with its boxes; refreshed every 5 s as rows arrive.</p><div id="live" class="cards">Loading…</div>`;
  const shown = new Map();
  const refresh = async () => {
    const frames = await api('/api/live');
    const el = document.getElementById('live');
    if (!el) return;
    if (!frames.length) {
      el.innerHTML = '<p>No live stream rows yet (<code>lookout stream</code> records cameras into segments).</p>';
      return;
    }
    if (el.textContent.startsWith('Loading') || el.querySelector('p')) el.innerHTML = '';
    for (const f of frames) {
      if (shown.get(f.stream) === f.workflow_id) continue;
      shown.set(f.stream, f.workflow_id);
      let card = el.querySelector(`[data-stream="${CSS.escape(f.stream)}"]`);
      if (!card) {
        card = document.createElement('article');
        card.className = 'card';
        card.dataset.stream = f.stream;
        el.appendChild(card);
      }
      card.innerHTML = `<h2>${esc(f.stream)}</h2><p>frame ${esc(f.frame)} · captured ${esc(f.captured_at)} · ${esc(f.label)} ${fmt(f.score, 3)}</p><div class="frame"></div>`;
      const q = new URLSearchParams({
        bucket: f.bucket,
        name: f.name,
        generation: f.generation,
        frame: String(f.frame),
      });
      await drawFrame(
        card.querySelector('.frame'),
        `/api/frame.jpg?${q}`,
        f.objects,
        `stream ${f.stream} frame ${f.frame}`,
      );
    }
  };
  await refresh();
  every(5000, refresh);
}

// ---------------------------------------------------------------- Map (map.js)
const mapPage = () =>
  mapPageOf({
    main,
    api,
    esc,
    say,
    setMap: (m) => {
      map = m;
    },
  });

// ---------------------------------------------------------------- Zones (zones.js)
const zonesPage = () => zonesPageOf({ main, api, esc, say });

// ---------------------------------------------------------------- Failures
async function failuresPage() {
  main.innerHTML = `<h1>Failures</h1><h2>Failed analyses</h2><div id="failed">Loading…</div><h2>Dead letters</h2><div id="dead"></div>`;
  const { failed, dead, deadError } = await api('/api/failures');
  document.getElementById('failed').innerHTML = table(
    [
      { title: 'object', html: (r) => `<a href="#/analysis/${encodeURIComponent(r.workflow_id)}">${esc(r.name)}</a>` },
      { title: 'run', key: 'run_tag' },
      { title: 'pipeline', key: 'pipeline' },
      { title: 'stage', key: 'failed_stage' },
      {
        title: 'error',
        html: (r) => `<span class="bad">${esc(r.error_class)}</span>: ${esc((r.error_message || '').slice(0, 160))}`,
      },
      { title: 'recorded', key: 'recorded_at' },
      {
        title: 'retry',
        html: (r) =>
          `<button type="button" data-retry="${esc(r.workflow_id)}" data-run-id="${esc(r.run_id)}" aria-label="Retry ${esc(r.name)}">Retry</button> <span class="retry-state" data-testid="retry-state"></span>`,
      },
    ],
    failed,
  );
  document.getElementById('dead').innerHTML = deadError
    ? `<p class="bad">${esc(deadError)}</p>`
    : table(
        [
          { title: '#', key: 'seq', num: true },
          { title: 'kind', key: 'kind' },
          { title: 'reason', key: 'reason' },
          { title: 'payload', html: (d) => `<code>${esc(String(d.payload).slice(0, 160))}</code>` },
          { title: 'at', key: 'at' },
        ],
        dead,
      );
  for (const b of document.querySelectorAll('button[data-retry]')) {
    b.onclick = async () => {
      const st = b.parentElement.querySelector('.retry-state');
      b.disabled = true;
      try {
        const r = await post('/api/retry', { workflowId: b.dataset.retry });
        st.textContent = r.outcome;
        if (r.outcome !== 'restarted') return;
        // The new row replaces the failed one in the view: wait for a row of another run.
        const wait = async () => {
          const row = await api(`/api/analysis?wf=${encodeURIComponent(b.dataset.retry)}`).catch(() => null);
          if (row && row.run_id !== b.dataset.runId) {
            st.innerHTML = `new row: <strong class="${row.status === 'ok' ? 'ok' : 'bad'}">${esc(row.status)}</strong>${row.error_class ? ` ${esc(row.error_class)}` : ''} (run ${esc(row.run_id.slice(0, 8))})`;
            return true;
          }
          return false;
        };
        const id = setInterval(() => wait().then((done) => done && clearInterval(id)), 1500);
        timers.push(id);
      } catch (e) {
        st.textContent = e.message;
      } finally {
        b.disabled = false;
      }
    };
  }
}

// ---------------------------------------------------------------- Upload
async function uploadPage() {
  main.innerHTML = `<h1>Upload</h1><form id="upload-form">
    <p><label for="files">Files</label><input id="files" type="file" multiple> <label for="folder">or a folder</label><input id="folder" type="file" webkitdirectory></p>
    <p><label for="pipeline">Pipeline</label><select id="pipeline">${info.pipelines.map((p) => `<option ${p === info.defaultPipeline ? 'selected' : ''}>${esc(p)}</option>`).join('')}</select>
       <label for="scene">Scene</label><input id="scene" placeholder="(none)">
       <label for="run">Run tag</label><input id="run" placeholder="upload-…"></p>
    <button type="submit">Upload</button></form><h2>Rows of this upload</h2><div id="upload-rows" data-testid="upload-rows"><p class="muted">Nothing uploaded yet.</p></div>`;
  document.getElementById('upload-form').onsubmit = async (e) => {
    e.preventDefault();
    uploadFiles().catch((err) => say(`upload failed: ${err.message}`));
  };
  const uploadFiles = async () => {
    const files = [...document.getElementById('files').files, ...document.getElementById('folder').files];
    if (!files.length) return say('choose files first');
    const run =
      document.getElementById('run').value.trim() ||
      `ui-${new Date()
        .toISOString()
        .replace(/[-:.TZ]/g, '')
        .slice(0, 14)}`;
    const q = {
      run,
      pipeline: document.getElementById('pipeline').value,
      scene: document.getElementById('scene').value.trim(),
    };
    let n = 0;
    for (const f of files) {
      await api(`/api/upload?${new URLSearchParams({ ...q, name: f.name })}`, {
        method: 'POST',
        headers: { 'content-type': f.type || 'application/octet-stream' },
        body: f,
      });
      say(`uploaded ${++n}/${files.length}`);
    }
    const out = document.getElementById('upload-rows');
    out.innerHTML = `<p>Run <a href="#/run/${encodeURIComponent(run)}">${esc(run)}</a>: waiting for ${files.length} rows…</p>`;
    const poll = async () => {
      const rows = await api(`/api/runs/${encodeURIComponent(run)}/rows`);
      out.innerHTML = `<p>Run <a href="#/run/${encodeURIComponent(run)}">${esc(run)}</a>: ${rows.length} of ${files.length} rows</p>${rowsTable(rows)}`;
      return rows.length >= files.length;
    };
    const id = setInterval(
      () =>
        poll()
          .then((done) => done && clearInterval(id))
          .catch((err) => say(err.message)),
      1500,
    );
    timers.push(id);
  };
}

// ---------------------------------------------------------------- router
const ROUTES = [
  [
    /^#\/run\/([^?]+)(?:\?vs=(.+))?$/,
    (m) => runPage(decodeURIComponent(m[1]), m[2] && decodeURIComponent(m[2])),
    'runs',
  ],
  [/^#\/analysis\/(.+)$/, (m) => analysisPage(decodeURIComponent(m[1])), ''],
  [/^#\/alerts/, alertsPage, 'alerts'],
  [/^#\/live/, livePage, 'live'],
  [/^#\/map/, mapPage, 'map'],
  [/^#\/zones/, zonesPage, 'zones'],
  [/^#\/failures/, failuresPage, 'failures'],
  [/^#\/upload/, uploadPage, 'upload'],
  [/^/, runsPage, 'runs'],
];

async function route() {
  for (const id of timers) clearInterval(id);
  timers = [];
  if (map) {
    map.remove();
    map = null;
  }
  say('');
  const h = location.hash || '#/runs';
  for (const [re, page, nav] of ROUTES) {
    const m = re.exec(h);
    if (!m) continue;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.page === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.body.dataset.ready = '';
    try {
      await page(m);
    } catch (e) {
      main.insertAdjacentHTML('beforeend', `<p class="bad" role="alert">${esc(e.message)}</p>`);
    }
    document.body.dataset.ready = h;
    return;
  }
}

(async () => {
  info = await api('/api/info');
  if (info.writesNeedToken) {
    const f = document.getElementById('token-form');
    f.hidden = false;
    f.onsubmit = (e) => {
      e.preventDefault();
      sessionStorage.setItem('lookout-token', document.getElementById('token').value);
      say('token saved for this tab');
    };
  }
  window.addEventListener('hashchange', route);
  await route();
})();
