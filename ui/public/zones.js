// The zones page (docs/cctv-zones.md): a scene's zones and rules drawn on a frame of its camera and saved as a new
// version of the scene's zones (the store of `lookout zones`; the server validates with runtime/zones.ts).
// A plain SVG over the frame rather than leaflet-draw: zones are a handful of corners in the frame's own
// normalised coordinates, and an SVG polygon over an <img> needs no map projection (CRS.Simple), no tile panes,
// and its clicks map to 0..1 with one division. Every corner can also be typed (the points field), so the
// editor works from the keyboard alone.

const RULE_FIELDS = {
  'no-entry': ['classes'],
  loitering: ['seconds', 'classes'],
  direction: ['angle', 'tolerance', 'classes'],
  'speed-limit': ['max', 'unit', 'classes'],
};
const FIELD_LABEL = {
  classes: 'Classes (comma-separated)',
  seconds: 'Seconds in zone',
  angle: 'Allowed heading ° (0 up, 90 right)',
  tolerance: '± degrees',
  max: 'Limit',
  unit: 'Unit',
};
const COLOURS = ['#e63946', '#1d70b8', '#2a9d8f', '#b5179e', '#f77f00', '#6a4c93'];

const fmtPts = (pts) => pts.map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join(' ');
function parsePts(text) {
  const pts = text
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => p.split(',').map(Number));
  return pts.every((p) => p.length === 2 && p.every(Number.isFinite)) ? pts : null;
}

/** A rule as the form holds it (strings) → as the zones file states it. */
function ruleOut(r) {
  const out = { type: r.type };
  for (const f of RULE_FIELDS[r.type]) {
    const v = String(r[f] ?? '').trim();
    if (v === '') continue;
    if (f === 'classes')
      out.classes = v
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
    else if (f === 'unit') out.unit = v;
    else out[f] = Number(v);
  }
  return out;
}
const ruleIn = (r) => ({ ...r, classes: (r.classes || []).join(', ') });

export async function zonesPage({ main, api, esc, say }) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const scenes = await api('/api/scenes');
  const scene = params.get('scene') || '';
  main.innerHTML = `<h1>Zones</h1>
    <p class="muted">Polygons on the camera's frame, each with rules (no entry for a class, loitering time, direction of
    travel, speed limit) judged on every tracked object's foot point by the cctv-anomaly pipeline. A broken rule is an
    alert with the rule as its reason. Saving stores a new version; workers use it from their next video segment.</p>
    <form id="zone-scene" class="filters" aria-label="Choose a scene">
      <label>Scene <input id="zone-scene-name" name="scene" list="zone-scenes" value="${esc(scene)}" required pattern="[a-z0-9][a-z0-9_-]{0,62}"></label>
      <datalist id="zone-scenes">${scenes.map((s) => `<option value="${esc(s)}">`).join('')}</datalist>
      <button type="submit">Open</button>
    </form>
    <div id="zone-editor"></div>`;
  document.getElementById('zone-scene').onsubmit = (e) => {
    e.preventDefault();
    location.hash = `#/zones?scene=${encodeURIComponent(document.getElementById('zone-scene-name').value.trim())}`;
  };
  if (!scene) {
    document.getElementById('zone-editor').innerHTML =
      '<p>Choose a scene (its name as given to <code>lookout fit --scene</code>).</p>';
    return;
  }
  const data = await api(`/api/zones?scene=${encodeURIComponent(scene)}`);
  const state = {
    zones: data.zones.map((z) => ({ name: z.name, points: z.points, rules: z.rules.map(ruleIn) })),
    active: 0,
  };
  const ed = document.getElementById('zone-editor');
  const frameSrc = data.video ? `/api/frame.jpg?${new URLSearchParams({ ...data.video, frame: '0' })}` : null;
  ed.innerHTML = `<p id="zone-version" class="muted">${data.version ? `Version ${data.version} of scene ${esc(scene)}.` : `Scene ${esc(scene)} has no zones yet.`}</p>
    <div class="zone-layout">
      <div>
        <div class="frame zone-frame" id="zone-frame">${
          frameSrc
            ? `<img id="zone-img" src="${esc(frameSrc)}" alt="first frame of a video of scene ${esc(scene)}">`
            : `<div class="zone-blank" id="zone-img" role="img" aria-label="no video of this scene yet: a blank 4:3 frame">no video of this scene yet</div>`
        }<svg id="zone-svg" viewBox="0 0 1 1" preserveAspectRatio="none" role="img" aria-label="zones drawn on the frame"></svg></div>
        <p class="muted">Click on the frame to add a corner to the selected zone (or type its corners, x,y in 0..1 of the
        frame's width and height). A zone needs at least 3 corners and must not cross itself.</p>
      </div>
      <div>
        <div id="zone-list"></div>
        <p><button type="button" id="zone-add">Add zone</button> <button type="button" id="zone-save">Save zones</button></p>
        <div id="zone-msg" role="status" aria-live="polite"></div>
      </div>
    </div>`;
  const svg = document.getElementById('zone-svg');
  const list = document.getElementById('zone-list');
  const msg = document.getElementById('zone-msg');

  const drawSvg = () => {
    svg.innerHTML = state.zones
      .map((z, i) => {
        const c = COLOURS[i % COLOURS.length];
        const pts = z.points.map(([x, y]) => `${x},${y}`).join(' ');
        const act = i === state.active;
        return `<g data-zone="${i}"><polygon points="${pts}" fill="${c}" fill-opacity="${act ? 0.25 : 0.12}" stroke="${c}" stroke-width="${act ? 3 : 2}" vector-effect="non-scaling-stroke"/>${z.points
          .map(([x, y]) => `<circle cx="${x}" cy="${y}" r="0.008" fill="${c}"/>`)
          .join('')}</g>`;
      })
      .join('');
  };
  const field = (zi, ri, r, f) => {
    const id = `z${zi}-r${ri}-${f}`;
    const v = esc(r[f] ?? '');
    const input =
      f === 'unit'
        ? `<select id="${id}" data-f="${f}">${['px/s', 'm/s'].map((u) => `<option${r.unit === u ? ' selected' : ''}>${u}</option>`).join('')}</select>`
        : `<input id="${id}" data-f="${f}" value="${v}" ${f === 'classes' ? `list="zone-classes"` : 'inputmode="decimal" size="6"'}>`;
    return `<label for="${id}">${FIELD_LABEL[f]}</label> ${input}`;
  };
  const render = () => {
    list.innerHTML =
      `<datalist id="zone-classes">${data.classes.map((c) => `<option value="${esc(c)}">`).join('')}</datalist>` +
      state.zones
        .map(
          (z, zi) => `<fieldset class="zone${zi === state.active ? ' active' : ''}" data-zone="${zi}">
        <legend>Zone ${zi + 1}${zi === state.active ? ' (selected: clicks on the frame add corners here)' : ''}</legend>
        <p><label for="z${zi}-name">Name</label> <input id="z${zi}-name" class="zone-name" value="${esc(z.name)}">
           <button type="button" class="zone-select"${zi === state.active ? ' aria-pressed="true"' : ' aria-pressed="false"'}>Draw on frame</button>
           <button type="button" class="zone-undo">Undo corner</button>
           <button type="button" class="zone-remove secondary">Remove zone</button></p>
        <p><label for="z${zi}-points">Corners (x,y …)</label> <input id="z${zi}-points" class="zone-points" size="48" value="${fmtPts(z.points)}"></p>
        ${z.rules
          .map(
            (r, ri) => `<p class="zone-rule" data-rule="${ri}"><label for="z${zi}-r${ri}-type">Rule ${ri + 1}</label>
            <select id="z${zi}-r${ri}-type" class="rule-type">${data.ruleTypes.map((t) => `<option${t === r.type ? ' selected' : ''}>${t}</option>`).join('')}</select>
            ${RULE_FIELDS[r.type].map((f) => field(zi, ri, r, f)).join(' ')}
            <button type="button" class="rule-remove secondary" aria-label="Remove rule ${ri + 1} of zone ${zi + 1}">Remove</button></p>`,
          )
          .join('')}
        <p><button type="button" class="rule-add">Add rule</button></p>
      </fieldset>`,
        )
        .join('');
    for (const fs of list.querySelectorAll('fieldset[data-zone]')) {
      const zi = Number(fs.dataset.zone);
      const z = state.zones[zi];
      fs.querySelector('.zone-name').oninput = (e) => {
        z.name = e.target.value;
      };
      const ptsInput = fs.querySelector('.zone-points');
      ptsInput.onchange = () => {
        const p = parsePts(ptsInput.value);
        if (!p) return say(`zone ${zi + 1}: corners are x,y pairs separated by spaces`);
        z.points = p;
        drawSvg();
      };
      fs.querySelector('.zone-select').onclick = () => {
        state.active = zi;
        render();
      };
      fs.querySelector('.zone-undo').onclick = () => {
        z.points = z.points.slice(0, -1);
        ptsInput.value = fmtPts(z.points);
        drawSvg();
      };
      fs.querySelector('.zone-remove').onclick = () => {
        state.zones.splice(zi, 1);
        state.active = Math.max(0, Math.min(state.active, state.zones.length - 1));
        render();
      };
      fs.querySelector('.rule-add').onclick = () => {
        z.rules.push({ type: 'no-entry', classes: 'person' });
        render();
      };
      for (const rp of fs.querySelectorAll('.zone-rule')) {
        const r = z.rules[Number(rp.dataset.rule)];
        rp.querySelector('.rule-type').onchange = (e) => {
          r.type = e.target.value;
          render();
        };
        for (const inp of rp.querySelectorAll('[data-f]'))
          inp.oninput = inp.onchange = () => {
            r[inp.dataset.f] = inp.value;
          };
        rp.querySelector('.rule-remove').onclick = () => {
          z.rules.splice(Number(rp.dataset.rule), 1);
          render();
        };
      }
    }
    drawSvg();
  };
  svg.addEventListener('click', (e) => {
    if (!state.zones.length)
      state.zones.push({ name: '', points: [], rules: [{ type: 'no-entry', classes: 'person' }] });
    const b = svg.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (e.clientX - b.left) / b.width));
    const y = Math.min(1, Math.max(0, (e.clientY - b.top) / b.height));
    const z = state.zones[state.active];
    z.points = [...z.points, [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]];
    const inp = document.getElementById(`z${state.active}-points`);
    if (inp) inp.value = fmtPts(z.points);
    else render();
    drawSvg();
  });
  document.getElementById('zone-add').onclick = () => {
    state.zones.push({
      name: `zone ${state.zones.length + 1}`,
      points: [],
      rules: [{ type: 'no-entry', classes: 'person' }],
    });
    state.active = state.zones.length - 1;
    render();
    document.getElementById(`z${state.active}-name`).focus();
  };
  document.getElementById('zone-save').onclick = async () => {
    msg.innerHTML = '';
    const doc = {
      zones: state.zones.map((z) => ({ name: z.name, points: z.points, rules: z.rules.map(ruleOut) })),
    };
    const res = await fetch(`/api/zones?scene=${encodeURIComponent(scene)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...tokenHeader() },
      body: JSON.stringify(doc),
    });
    const body = await res.json();
    if (!res.ok) {
      msg.innerHTML = `<div class="bad" role="alert" data-testid="zone-problems"><p>Not saved: ${esc(body.error)}</p>${
        body.problems && body.problems.length > 1
          ? `<ul>${body.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`
          : ''
      }</div>`;
      return;
    }
    msg.innerHTML = `<p class="ok" data-testid="zone-saved">Saved version ${esc(body.version)} (${body.zones.length} zones) of scene ${esc(scene)}.</p>`;
    document.getElementById('zone-version').textContent = `Version ${body.version} of scene ${scene}.`;
    say(`zones of ${scene}: version ${body.version} saved`);
  };
  if (!state.zones.length)
    state.zones.push({ name: 'zone 1', points: [], rules: [{ type: 'no-entry', classes: 'person' }] });
  render();
  const img = document.getElementById('zone-img');
  if (img.tagName === 'IMG')
    await new Promise((resolve) => {
      if (img.complete) return resolve();
      img.onload = img.onerror = () => resolve();
    });
}

const tokenHeader = () => {
  const t = sessionStorage.getItem('lookout-token');
  return t ? { authorization: `Bearer ${t}` } : {};
};
