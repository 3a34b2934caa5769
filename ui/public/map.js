// The map page (docs/map.md). A raster whose chips have WGS 84 footprints is drawn in longitude/latitude
// (Leaflet's default Web Mercator view): each chip is its footprint polygon, coloured by the chosen score,
// over the raster itself (placed by an affine fit of the footprints) and an offline basemap: Natural Earth
// countries from world-atlas (TopoJSON, decoded by topojson-client), served by the UI server, no tile server.
// An area of interest is drawn with leaflet-draw; the server selects the chips it touches (ui/map.ts, the
// README's SQL predicate) and the same answer is the GeoJSON download.
// A raster without footprints is drawn on its pixel grid (CRS.Simple), with a note saying why.
/* global L, topojson */

const LAYERS = { change: 'change_score', novelty: 'novelty_score', cloud: 'cloud_fraction' };
// ColorBrewer YlOrRd (9 classes): a sequential ramp that reads as "more is worse" and survives greyscale.
const RAMP = ['#ffffcc', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#bd0026', '#800026'];
const NATURAL_EARTH =
  'Natural Earth (public domain), via <a href="https://github.com/topojson/world-atlas">world-atlas</a>';
const basemapCache = {};

/** WKT "POLYGON((lon lat, ...))" -> [[lat, lon], ...] (Leaflet order), or null. */
function ringOf(wkt) {
  const m = /^\s*POLYGON\s*\(\(\s*([^()]+?)\s*\)/i.exec(wkt || '');
  if (!m) return null;
  const pts = m[1].split(',').map((p) => p.trim().split(/\s+/).map(Number));
  return pts.length >= 4 && pts.every((p) => p.length === 2 && p.every(Number.isFinite))
    ? pts.map(([lon, lat]) => [lat, lon])
    : null;
}

function colour(t) {
  if (t === null) return '#9aa3ad';
  return RAMP[Math.min(RAMP.length - 1, Math.max(0, Math.floor(t * RAMP.length)))];
}

const fmtDeg = (v, pos, neg) => `${Math.abs(v).toFixed(5)}° ${v >= 0 ? pos : neg}`;

async function countries(res) {
  basemapCache[res] ??= fetch(`/lib/countries-${res}.json`).then((r) => r.json());
  const topo = await basemapCache[res];
  const obj = topo.objects.countries;
  return {
    land: topojson.feature(topo, obj),
    // Shared arcs between two countries are borders; arcs of one country only are coastlines.
    borders: topojson.mesh(topo, obj, (a, b) => a !== b),
    coast: topojson.mesh(topo, obj, (a, b) => a === b),
  };
}

/** The basemap: land, coastlines and borders on a canvas in their own pane under everything else. */
function basemap(map, res, pane) {
  const renderer = L.canvas({ pane, padding: 0.5 });
  const group = L.layerGroup().addTo(map);
  const draw = async (r) => {
    const b = await countries(r);
    group.clearLayers();
    L.geoJSON(b.land, {
      pane,
      renderer,
      interactive: false,
      style: { stroke: false, fillColor: '#f3efe6', fillOpacity: 1 },
    }).addTo(group);
    L.geoJSON(b.coast, { pane, renderer, interactive: false, style: { color: '#6b8fb3', weight: 1.2 } }).addTo(group);
    L.geoJSON(b.borders, {
      pane,
      renderer,
      interactive: false,
      style: { color: '#8a7f8d', weight: 1, dashArray: '4 3' },
    }).addTo(group);
  };
  let current = res;
  const p = draw(res);
  // Natural Earth 1:50m for the world and regions; 1:10m once a country fills the view.
  map.on('zoomend', () => {
    const want = map.getZoom() >= 6 ? '10m' : res;
    if (want !== current) {
      current = want;
      draw(want).catch(() => {});
    }
  });
  return p;
}

/**
 * The raster image placed by an affine map pixel -> (lon, lat) fitted (least squares) to the chips' centres
 * and their footprints' centroids; drawn as an <img> with a CSS matrix in layer coordinates. Null when the
 * chips do not span two dimensions (fewer than 3 non-collinear centres).
 */
function fitAffine(chips) {
  const pts = chips.map((c) => {
    const ring = c.ring.slice(0, -1);
    return [
      c.raster.x + c.raster.width / 2,
      c.raster.y + c.raster.height / 2,
      ring.reduce((s, p) => s + p[1], 0) / ring.length,
      ring.reduce((s, p) => s + p[0], 0) / ring.length,
    ];
  });
  // Normal equations of [x y 1] * [a b c]^T = lon (and lat), solved by Cramer's rule.
  const S = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const tl = [0, 0, 0],
    ta = [0, 0, 0];
  for (const [x, y, lon, lat] of pts) {
    const v = [x, y, 1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) S[i][j] += v[i] * v[j];
      tl[i] += v[i] * lon;
      ta[i] += v[i] * lat;
    }
  }
  const det = (m) =>
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const d = det(S);
  if (!(Math.abs(d) > 1e-9 * Math.max(1, Math.abs(S[0][0] * S[1][1])))) return null;
  const solve = (t) => [0, 1, 2].map((k) => det(S.map((row, i) => row.map((v, j) => (j === k ? t[i] : v)))) / d);
  const [a, b, c] = solve(tl);
  const [e, f, g] = solve(ta);
  return (x, y) => L.latLng(e * x + f * y + g, a * x + b * y + c);
}

function affineImage(url, width, height, geo, alt) {
  const Layer = L.Layer.extend({
    onAdd(map) {
      this._img = L.DomUtil.create('img', 'lookout-affine-image leaflet-zoom-hide');
      Object.assign(this._img.style, {
        position: 'absolute',
        left: '0',
        top: '0',
        transformOrigin: '0 0',
        opacity: '0.9',
      });
      this._img.alt = alt;
      this._img.onload = () => this._place();
      this._img.src = url;
      map.getPane('imagery').appendChild(this._img);
      map.on('zoomend viewreset', this._place, this);
    },
    onRemove(map) {
      map.off('zoomend viewreset', this._place, this);
      this._img.remove();
    },
    _place() {
      const img = this._img;
      if (!img.naturalWidth) return;
      const map = this._map;
      const p0 = map.latLngToLayerPoint(geo(0, 0));
      const p1 = map.latLngToLayerPoint(geo(width, 0));
      const p2 = map.latLngToLayerPoint(geo(0, height));
      const [w, h] = [img.naturalWidth, img.naturalHeight];
      img.style.width = `${w}px`;
      img.style.height = `${h}px`;
      img.style.transform = `matrix(${(p1.x - p0.x) / w}, ${(p1.y - p0.y) / w}, ${(p2.x - p0.x) / h}, ${(p2.y - p0.y) / h}, ${p0.x}, ${p0.y})`;
    },
  });
  return new Layer();
}

/** Colour scale of the current layer over the shown chips (min..max), as a legend. */
function legendHtml(esc, layer, lo, hi, nulls) {
  const stops = RAMP.map(
    (c, i) =>
      `<span style="background:${c}" title="${esc((lo + ((hi - lo) * (i + 0.5)) / RAMP.length).toFixed(3))}"></span>`,
  ).join('');
  return `<div class="legend" role="img" aria-label="colour scale of ${esc(layer)} from ${lo.toFixed(3)} to ${hi.toFixed(3)}"><div class="ramp">${stops}</div><div class="ends"><span>${lo.toFixed(3)}</span><span>${esc(layer)}</span><span>${hi.toFixed(3)}</span></div>${nulls ? `<div class="muted"><span class="swatch" style="background:${colour(null)}"></span> no value (${nulls} chips)</div>` : ''}</div>`;
}

/** ctx: { main, api, esc, say, setMap } from app.js. */
export async function mapPage({ main, api, esc, say, setMap }) {
  main.innerHTML = `<h1>Map</h1><form class="inline" id="map-form"><label for="raster">Raster</label><select id="raster"></select>
    <fieldset><legend>Colour chips by</legend>${Object.keys(LAYERS)
      .map(
        (k, i) =>
          `<input type="radio" name="layer" id="layer-${k}" value="${k}" ${i === 0 ? 'checked' : ''}><label for="layer-${k}">${k}</label>`,
      )
      .join('')}</fieldset>
    <fieldset id="aoi-pixels" hidden><legend>Area of interest (pixels)</legend><label for="aoi">x0,y0,x1,y1</label><input id="aoi" size="18" placeholder="all"><button type="submit">Apply</button></fieldset></form>
    <p id="map-note" class="muted" data-testid="map-note"></p>
    <div class="grid2"><div id="map" role="region" aria-label="raster map with chip heatmap"></div>
    <section aria-label="legend, area of interest and selected chip"><div id="legend"></div><div id="map-inset" role="img" aria-label="world map locating the raster" hidden></div>
      <div id="aoi-panel" hidden><h2>Area of interest</h2><p id="aoi-state" data-testid="aoi-state" aria-live="polite">Draw a rectangle or a polygon with the tools at the map's top left.</p>
      <p><a id="aoi-download" class="button" download hidden>Download selection (GeoJSON)</a></p></div>
      <h2>Chip</h2><div id="chip" class="row-detail" data-testid="chip-row" tabindex="0">Click a chip.</div></section></div>`;
  const { rasters, error } = await api('/api/rasters');
  const sel = document.getElementById('raster');
  if (!rasters.length) {
    document.getElementById('map').innerHTML = `<p>No raster chip rows${error ? ` (${esc(error)})` : ''}.</p>`;
    return;
  }
  sel.innerHTML = rasters.map((r, i) => `<option value="${i}">${esc(r.name)} (${r.chips} chips)</option>`).join('');
  const note = document.getElementById('map-note');
  let map = null;
  let inset = null;
  let chips = [];
  let geoMode = false;
  let selected = new Set();
  const layerKey = () => LAYERS[document.querySelector('input[name=layer]:checked').value];

  // Styles every drawn chip for the current layer and selection, and the legend.
  const restyle = () => {
    const layer = layerKey();
    const shown = chips.filter((c) => c.shape);
    const vals = shown.map((c) => c.raster[layer]).filter((v) => v !== null && v !== undefined);
    const lo = vals.length ? Math.min(...vals) : 0;
    const hi = vals.length ? Math.max(...vals) : 1;
    for (const c of shown) {
      const v = c.raster[layer];
      const t = v === null || v === undefined ? null : hi > lo ? (v - lo) / (hi - lo) : 1;
      const on = selected.has(c.row.workflow_id);
      c.shape.setStyle({
        color: on ? '#0b5cad' : '#3a3a3a',
        weight: on ? 3 : 1,
        fillColor: colour(t),
        fillOpacity: t === null ? 0.15 : 0.6,
      });
      c.label = `chip ${c.raster.chip_col},${c.raster.chip_row}, ${layer} ${v === null || v === undefined ? 'not available' : Number(v).toFixed(3)}${on ? ', selected' : ''}`;
      c.on = on;
      c.shape.setTooltipContent(c.label);
      decorate(c);
    }
    document.getElementById('legend').innerHTML = legendHtml(esc, layer, lo, hi, shown.length - vals.length);
  };

  // Keyboard and screen readers: each chip's SVG path is a button (Enter or Space shows its row). Leaflet
  // makes a new path each time a layer is added (the layer switch), so this runs on every 'add'.
  const decorate = (c) => {
    const el = c.shape?.getElement();
    if (!el) return;
    if (!el.hasAttribute('data-chip')) {
      el.setAttribute('data-chip', `${c.raster.chip_col},${c.raster.chip_row}`);
      el.setAttribute('role', 'button');
      el.setAttribute('tabindex', '0');
      el.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          c.shape.fire('click');
        }
      });
    }
    if (c.label) el.setAttribute('aria-label', c.label);
    el.classList.toggle('selected', !!c.on);
  };

  const addChip = (group, c, latlngs, shape) => {
    c.shape = shape(latlngs, { pane: 'chips' });
    c.shape.bindTooltip('', { sticky: true });
    c.shape.on('click', () => {
      document.getElementById('chip').textContent = JSON.stringify(c.row, null, 2);
      say(`chip ${c.raster.chip_col},${c.raster.chip_row}`);
    });
    c.shape.on('add', () => decorate(c));
    group.addLayer(c.shape);
  };

  const newMap = (opts) => {
    if (inset) {
      inset.remove();
      inset = null;
    }
    if (map) map.remove();
    map = L.map('map', opts);
    setMap(map);
    map.createPane('basemap').style.zIndex = 200;
    map.createPane('imagery').style.zIndex = 250;
    map.createPane('chips').style.zIndex = 400;
    return map;
  };

  // ---- georeferenced: longitude / latitude over the basemap
  const drawGeo = (r, summary) => {
    newMap({ zoomSnap: 0.25, attributionControl: true });
    map.attributionControl.setPrefix(false).addAttribution(NATURAL_EARTH);
    L.control.scale({ imperial: false }).addTo(map);
    const coords = L.control({ position: 'bottomleft' });
    coords.onAdd = () =>
      Object.assign(L.DomUtil.create('div', 'map-coords'), { id: 'map-coords', textContent: 'lat, lon' });
    coords.addTo(map);
    map.on('mousemove', (e) => {
      document.getElementById('map-coords').textContent =
        `${fmtDeg(e.latlng.lat, 'N', 'S')}, ${fmtDeg(e.latlng.lng, 'E', 'W')}`;
    });
    const basemapReady = basemap(map, '50m', 'basemap');
    const placed = chips.filter((c) => c.ring);
    const bounds = L.latLngBounds(placed.flatMap((c) => c.ring));
    // A view first: Leaflet adds layers (and makes their SVG elements) once the map has one.
    map.fitBounds(bounds, { padding: [20, 20] });
    const heat = L.layerGroup().addTo(map);
    for (const c of placed) addChip(heat, c, c.ring, L.polygon);
    const geo = fitAffine(placed);
    const image = geo
      ? affineImage(
          `/api/raster.png?${new URLSearchParams({ bucket: r.bucket, name: r.name, generation: r.generation })}`,
          summary?.raster.raster_width ?? r.raster_width,
          summary?.raster.raster_height ?? r.raster_height,
          geo,
          `raster ${r.name}`,
        ).addTo(map)
      : null;
    const overlays = { 'Raster image': image, 'Chip heatmap': heat };
    L.control
      .layers(null, Object.fromEntries(Object.entries(overlays).filter(([, v]) => v)), { collapsed: false })
      .addTo(map);
    const missing = chips.length - placed.length;
    note.textContent = `Longitude/latitude (WGS 84) in Web Mercator; chips are their footprints${summary?.raster.crs ? `, reprojected from ${summary.raster.crs}` : ''}.${geo ? ' The image is placed by an affine fit of the footprints.' : ' Too few chips to place the image.'}${missing ? ` ${missing} chips have no footprint and are not drawn.` : ''}`;
    // Orientation: a small world map with the raster's place.
    const insetEl = document.getElementById('map-inset');
    insetEl.hidden = false;
    inset = L.map(insetEl, {
      zoomControl: false,
      attributionControl: false,
      dragging: false,
      scrollWheelZoom: false,
      doubleClickZoom: false,
      boxZoom: false,
      keyboard: false,
      touchZoom: false,
    });
    inset.createPane('basemap').style.zIndex = 200;
    basemap(inset, '110m', 'basemap').catch(() => {});
    inset.setView(bounds.getCenter(), 3);
    L.circleMarker(bounds.getCenter(), { radius: 5, color: '#e31a1c', weight: 2, fillOpacity: 0.8 }).addTo(inset);
    setupDraw(r);
    return basemapReady;
  };

  const setupDraw = (r) => {
    document.getElementById('aoi-panel').hidden = false;
    const drawn = new L.FeatureGroup().addTo(map);
    // The area above the chips, dark and dashed (selected chips are outlined in blue).
    map.createPane('aoi').style.zIndex = 450;
    const shape = {
      pane: 'aoi',
      color: '#111111',
      weight: 2.5,
      fillColor: '#ffffff',
      fillOpacity: 0.12,
      dashArray: '8 5',
    };
    // showArea off: leaflet-draw 1.0.4's area readout assigns an undeclared variable (fails in strict code).
    map.addControl(
      new L.Control.Draw({
        position: 'topleft',
        draw: {
          rectangle: { shapeOptions: shape, showArea: false },
          polygon: { shapeOptions: shape, allowIntersection: false, showArea: false },
          polyline: false,
          circle: false,
          circlemarker: false,
          marker: false,
        },
        edit: { featureGroup: drawn, edit: false, remove: true },
      }),
    );
    const state = document.getElementById('aoi-state');
    const link = document.getElementById('aoi-download');
    const apply = async (geometry) => {
      const q = new URLSearchParams({
        bucket: r.bucket,
        name: r.name,
        generation: r.generation,
        aoi: JSON.stringify(geometry),
      });
      state.textContent = 'Selecting…';
      const fc = await api(`/api/raster/select?${q}`);
      selected = new Set(fc.features.map((f) => f.properties.workflow_id));
      restyle();
      const placed = chips.filter((c) => c.ring).length;
      state.innerHTML = `<strong data-testid="aoi-count">${fc.lookout.selected}</strong> of ${placed} chips intersect the area (footprint ∩ area, the README's predicate).`;
      link.href = `/api/raster/select?${q}&download=1`;
      link.hidden = false;
      say(`${fc.lookout.selected} chips selected`);
    };
    map.on(L.Draw.Event.CREATED, (e) => {
      drawn.clearLayers();
      drawn.addLayer(e.layer);
      apply(e.layer.toGeoJSON().geometry).catch((err) => {
        state.textContent = err.message;
        say(err.message);
      });
    });
    map.on(L.Draw.Event.DELETED, () => {
      if (drawn.getLayers().length) return;
      selected = new Set();
      restyle();
      state.textContent = 'No area drawn: nothing selected.';
      link.hidden = true;
    });
  };

  // ---- no footprint: the pixel grid (lat = -row, lng = col), with the pixel AOI box
  let pixelChips = null;
  // The chips inside the pixel box typed in #aoi (all when empty), as before georeferenced maps.
  const drawPixelChips = () => {
    pixelChips?.remove();
    pixelChips = L.layerGroup().addTo(map);
    for (const c of chips) c.shape = null;
    const aoi = document.getElementById('aoi').value.split(',').map(Number);
    const inAoi = (k) =>
      aoi.length !== 4 ||
      aoi.some((v) => !Number.isFinite(v)) ||
      (k.x < aoi[2] && k.x + k.width > aoi[0] && k.y < aoi[3] && k.y + k.height > aoi[1]);
    for (const c of chips)
      if (inAoi(c.raster))
        addChip(
          pixelChips,
          c,
          [
            [-(c.raster.y + c.raster.height), c.raster.x],
            [-c.raster.y, c.raster.x + c.raster.width],
          ],
          L.rectangle,
        );
  };
  const drawPixels = (r, summary) => {
    newMap({ crs: L.CRS.Simple, minZoom: -5, attributionControl: false });
    const bounds = [
      [-r.raster_height, 0],
      [0, r.raster_width],
    ];
    L.imageOverlay(
      `/api/raster.png?${new URLSearchParams({ bucket: r.bucket, name: r.name, generation: r.generation })}`,
      bounds,
      { alt: `raster ${r.name}`, pane: 'imagery' },
    ).addTo(map);
    map.fitBounds(bounds);
    pixelChips = null;
    drawPixelChips();
    const why =
      summary?.raster.georef_note || chips.find((c) => c.raster.georef_note)?.raster.georef_note || 'no georeference';
    note.innerHTML = `<strong>Pixel coordinates:</strong> this raster's chips have no footprint (georef ${esc(summary?.raster.georef ?? chips[0]?.raster.georef ?? 'none')}: ${esc(why)}), so there is no basemap and no area drawing; chips are shown on the pixel grid.`;
  };

  let current = null;
  let loads = 0;
  const load = async () => {
    const r = rasters[Number(sel.value)];
    const seq = ++loads;
    delete main.dataset.mapRaster; // set again once this raster is drawn
    const rows = await api(
      `/api/raster?${new URLSearchParams({ bucket: r.bucket, name: r.name, generation: r.generation })}`,
    );
    if (seq !== loads) return; // another raster was chosen meanwhile
    const summary = rows.find((x) => x.raster && x.raster.kind === 'summary');
    chips = rows
      .filter((x) => x.raster && x.raster.kind === 'chip')
      .map((row) => ({ row, raster: row.raster, ring: ringOf(row.raster.footprint_wkt), shape: null }));
    selected = new Set();
    document.getElementById('chip').textContent = 'Click a chip.';
    say('');
    geoMode = chips.some((c) => c.ring);
    document.getElementById('aoi-pixels').hidden = geoMode;
    document.getElementById('aoi-panel').hidden = true;
    document.getElementById('map-inset').hidden = true;
    document.getElementById('aoi-download').hidden = true;
    current = { r, summary };
    main.dataset.mapMode = geoMode ? 'geo' : 'pixels';
    if (geoMode) await drawGeo(r, summary);
    else drawPixels(r, summary);
    restyle();
    main.dataset.mapRaster = r.name;
  };
  sel.onchange = () => load().catch((e) => say(e.message));
  for (const i of document.querySelectorAll('input[name=layer]')) i.onchange = restyle;
  document.getElementById('map-form').onsubmit = (e) => {
    e.preventDefault();
    if (geoMode || !current) return;
    drawPixelChips();
    restyle();
  };
  await load();
}
