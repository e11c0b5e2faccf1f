// The viewer page: upload one file to /api/analyse, show the overlay and the result tables.
// Every value from the result is inserted as text (textContent), never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const TOP_CLASSES = 3;
const REGIONS_SHOWN = 4;  // longer lists of fused regions are cut, the cell's title has all
let lastResult = null;

function cell(row, text, numeric) {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = 'num';
  return td;
}

const fmtBox = (box) => box ? '[' + box.map((v) => v.toFixed(1)).join(', ') + ']' : '';

function fillPathologies(result) {
  const body = $('pathologies').tBodies[0];
  body.replaceChildren();
  for (const p of result.pathologies) {
    const row = body.insertRow();
    cell(row, p.class);
    cell(row, p.score.toFixed(3), true);
    cell(row, fmtBox(p.box), true);
    cell(row, fmtBox(p.box_mm), true);
    const more = p.regions.length - REGIONS_SHOWN;
    cell(row, p.regions.slice(0, REGIONS_SHOWN).join(', ') +
      (more > 0 ? ', + ' + more + ' more' : '')).title = p.regions.join(', ');
  }
  if (!result.pathologies.length) cell(body.insertRow(), 'no pathology above the threshold');
}

function fillRegions(result) {
  const body = $('regions').tBodies[0];
  body.replaceChildren();
  for (const r of result.regions) {
    const row = body.insertRow();
    if (!r.present) row.className = 'absent';
    cell(row, r.name);
    cell(row, r.present ? 'yes' : 'no');
    cell(row, r.presence_score.toFixed(3), true);
    const top = Object.entries(r.probabilities).sort((a, b) => b[1] - a[1])
      .slice(0, TOP_CLASSES).map(([c, p]) => c + ' ' + p.toFixed(2));
    cell(row, top.join(', '));
  }
}

function fillHeader(result) {
  const warnings = $('warnings');
  warnings.replaceChildren();
  for (const w of result.warnings || []) {
    const li = document.createElement('li');
    li.textContent = w;
    warnings.appendChild(li);
  }
  const dl = $('dicom');
  dl.replaceChildren();
  for (const [key, value] of Object.entries(result.dicom || {})) {
    if (value === null) continue;
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = key;
    dd.textContent = Array.isArray(value) ? value.join(' \\ ') : String(value);
    dl.append(dt, dd);
  }
}

function showOverlay() {
  if (!lastResult) return;
  const on = $('toggle-regions').checked;
  $('overlay').src = on ? lastResult.overlay : lastResult.overlay_no_regions;
  $('overlay').dataset.regions = on ? 'on' : 'off';
}

function show(body) {
  lastResult = body;
  const result = body.result;
  fillPathologies(result);
  fillRegions(result);
  fillHeader(result);
  showOverlay();
  const stem = body.name.replace(/\.[^.]*$/, '') || 'result';
  const download = $('download');
  if (download.href.startsWith('blob:')) URL.revokeObjectURL(download.href);
  download.href = URL.createObjectURL(
    new Blob([JSON.stringify(result, null, 2)], {type: 'application/json'}));
  download.download = stem + '.json';
  $('result').hidden = false;
  $('status').textContent = body.name + ': ' + result.pathologies.length +
    ' pathology box(es), ' + result.width + ' x ' + result.height + ' px';
  document.body.dataset.state = 'done';
}

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = '';
  document.body.dataset.state = 'error';
}

async function upload(file) {
  document.body.dataset.state = 'busy';
  $('error').hidden = true;
  $('status').textContent = 'analysing ' + file.name + ' ...';
  try {
    const response = await fetch('/api/analyse?name=' + encodeURIComponent(file.name), {
      method: 'POST', body: file, headers: {'Content-Type': 'application/octet-stream'}});
    const body = await response.json();
    if (body.ok) show(body); else fail(body.error);
  } catch (err) {
    fail('request failed: ' + err);
  }
}

function init() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => {
    if (e.target.files.length) upload(e.target.files[0]);
    e.target.value = '';
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  $('toggle-regions').addEventListener('change', showOverlay);
  fetch('/api/model').then((r) => r.json()).then((m) => {
    $('model').textContent = 'config ' + m.config + ', checkpoint ' + (m.checkpoint || 'none');
  }).catch(() => {});
  document.body.dataset.state = 'ready';
}

init();
