// The engine timeline: one row per lane (a CUDA stream or GPU, a host thread), one bar per span of
// work (text encoding, steps, real-VAE preview chunks, final decode chunks, encoding), coloured by
// job, over the last few jobs, so overlap between lanes and between jobs can be seen.
const TIMELINE_COLOURS = ['#2f6fde', '#e0533d', '#2a9d8f', '#e9a23b', '#8e5bd6', '#5b6470'];
const LANE_ORDER = ['denoise', 'preview-vae', 'preview-transfer', 'finish', 'stream'];

function laneRank(lane) {
  const role = lane.split('/').pop();
  const i = LANE_ORDER.indexOf(role);
  return i < 0 ? LANE_ORDER.length : i;
}

// jobs: job objects of GET /v1/videos (oldest first). Returns what was drawn, for tests.
function drawTimeline(canvas, legend, jobs) {
  const spans = [];
  jobs.forEach((job, j) => {
    for (const s of job.timeline || []) {
      spans.push({ job: j, id: job.id, lane: s.lane, what: s.what, start: job.created_at + s.start, end: job.created_at + s.end });
    }
  });
  const lanes = [...new Set(spans.map((s) => s.lane))].sort((a, b) => laneRank(a) - laneRank(b) || a.localeCompare(b));
  const ratio = window.devicePixelRatio || 1;
  const labelWidth = 140, row = 26, top = 8, axis = 24;
  const width = canvas.clientWidth || 800;
  const height = top + Math.max(1, lanes.length) * row + axis;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = '12px system-ui, sans-serif';
  legend.replaceChildren();
  canvas.spans = [];
  if (!spans.length) {
    g.fillStyle = '#5b6470';
    g.fillText('no job has a timeline yet', labelWidth, top + row / 2 + 4);
    return { jobs: jobs.length, lanes: 0, spans: 0 };
  }
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end));
  const scale = (width - labelWidth - 10) / Math.max(1e-3, t1 - t0);
  const x = (t) => labelWidth + (t - t0) * scale;
  lanes.forEach((lane, i) => {
    const y = top + i * row;
    g.fillStyle = i % 2 ? '#f4f5f7' : '#fff';
    g.fillRect(labelWidth, y, width - labelWidth, row);
    g.fillStyle = '#1d232a';
    g.fillText(lane, 4, y + row / 2 + 4);
  });
  for (const s of spans) {
    const y = top + lanes.indexOf(s.lane) * row + 4;
    const box = { x: x(s.start), y, w: Math.max(1, (s.end - s.start) * scale), h: row - 8, span: s };
    g.fillStyle = TIMELINE_COLOURS[s.job % TIMELINE_COLOURS.length];
    g.globalAlpha = 0.85;
    g.fillRect(box.x, box.y, box.w, box.h);
    g.globalAlpha = 1;
    canvas.spans.push(box);
  }
  // Seconds since the first span, about eight ticks.
  const step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600].find((d) => (t1 - t0) / d <= 8) || 1200;
  g.fillStyle = '#5b6470';
  const base = top + lanes.length * row;
  for (let t = 0; t <= t1 - t0 + 1e-9; t += step) {
    g.fillRect(x(t0 + t), base, 1, 4);
    g.fillText(`${+t.toFixed(2)} s`, x(t0 + t) - 8, base + 16);
  }
  jobs.forEach((job, j) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.style.setProperty('--colour', TIMELINE_COLOURS[j % TIMELINE_COLOURS.length]);
    item.textContent = `${job.id.slice(-6)} ${job.status}${job.preview_path ? ` · ${job.preview_path}` : ''}`;
    if (job.notes) item.title = job.notes;
    legend.append(item);
  });
  return { jobs: jobs.length, lanes: lanes.length, spans: spans.length };
}

// The span under the pointer, as the canvas' tooltip.
function explainTimeline(canvas, event) {
  const r = canvas.getBoundingClientRect();
  const px = event.clientX - r.left, py = event.clientY - r.top;
  const hit = (canvas.spans || []).find((b) => px >= b.x && px <= b.x + b.w && py >= b.y && py <= b.y + b.h);
  canvas.title = hit ? `${hit.span.id}: ${hit.span.what} on ${hit.span.lane}, ${((hit.span.end - hit.span.start) * 1000).toFixed(1)} ms` : '';
}
