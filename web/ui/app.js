// The ditstream UI: submit prompts, follow jobs (SSE), watch them live (WHEP), chart latencies and
// the engine timeline of the last jobs.
const $ = (id) => document.getElementById(id);
const viewer = new WhepViewer($('player'));
const charts = {};
window.ditstreamCharts = charts;

function authHeaders() {
  const key = $('api-key').value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function submitPrompt(event) {
  event.preventDefault();
  $('form-error').textContent = '';
  const body = { prompt: $('prompt').value };
  for (const name of ['width', 'height', 'frames', 'steps', 'seed', 'fps']) body[name] = parseInt($(name).value, 10);
  for (const name of ['shift', 'guidance', 'cache_threshold']) body[name] = parseFloat($(name).value);
  const every = $('preview_vae_every').value.trim();
  // Numbers as numbers; anything else as typed, so the service names what is wrong with it.
  body.preview_vae_every = /^\d+$/.test(every) ? Number(every) : every;
  const res = await fetch('/v1/videos', {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
  });
  const job = await res.json();
  if (res.status !== 202) {
    $('form-error').textContent = job.error ? job.error.message : `error ${res.status}`;
    return;
  }
  follow(job.id);
  watch(job.id);
  refreshJobs();
}

async function watch(id) {
  $('watching').textContent = id;
  $('player-status').textContent = 'connecting…';
  try {
    await viewer.start(`/v1/videos/${id}/whep`, authHeaders());
    $('player-status').textContent = 'live';
  } catch (e) {
    $("player-status").textContent = `cannot watch: ${e.message}`;
    console.error(`WHEP: ${e.message}`);
  }
}

function follow(id) {
  const events = new EventSource(`/v1/videos/${id}/events`);
  const show = (text) => { if ($('watching').textContent === id) $('player-status').textContent = text; };
  events.addEventListener('step', (e) => { const d = JSON.parse(e.data); show(`step ${d.step}/${d.steps}`); refreshJobs(); });
  events.addEventListener('preview_chunk', (e) => { const d = JSON.parse(e.data); show(`step ${d.step}/${d.steps} · VAE preview`); });
  events.addEventListener('chunk', (e) => { const d = JSON.parse(e.data); show(`frames ${d.first_frame + d.frames}/${d.frames_total}`); });
  for (const end of ['completed', 'failed', 'canceled']) {
    events.addEventListener(end, () => { show(end); events.close(); refreshJobs(); refreshDashboard(); });
  }
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function refreshJobs() {
  const res = await fetch('/v1/videos?limit=50');
  if (!res.ok) return;
  const list = await res.json();
  const tbody = $('jobs').querySelector('tbody');
  tbody.replaceChildren();
  for (const job of list.data) {
    const tr = document.createElement('tr');
    tr.dataset.id = job.id;
    tr.append(cell(job.prompt, 'prompt'), cell(job.status));
    const progress = document.createElement('progress');
    progress.max = 100;
    progress.value = job.progress;
    const p = cell(`${job.step}/${job.steps} (${job.reused_steps} reused) `);
    p.prepend(progress);
    const paths = cell([job.text_path, job.decode_path, job.preview_path].filter(Boolean).join(' / '));
    if (job.notes) paths.title = job.notes;
    tr.append(p, paths);
    const actions = document.createElement('td');
    const watchButton = document.createElement('button');
    watchButton.className = 'small';
    watchButton.textContent = 'watch';
    watchButton.onclick = () => watch(job.id);
    actions.append(watchButton);
    if (job.content_url) {
      const a = document.createElement('a');
      a.href = job.content_url;
      a.textContent = ' download';
      a.download = `${job.id}.mp4`;
      actions.append(a);
    }
    tr.append(actions);
    tbody.append(tr);
  }
  return list;
}

// Per-job stage times from the job list, and the mean of every ditstream_*_seconds histogram.
function parseHistogramMeans(text) {
  const sums = {}, counts = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^ditstream_(\w+)_seconds_(sum|count) ([0-9.eE+-]+)$/);
    if (!m) continue;
    (m[2] === 'sum' ? sums : counts)[m[1]] = parseFloat(m[3]);
  }
  return Object.keys(counts).filter((k) => counts[k] > 0).map((k) => ({ name: k, mean: sums[k] / counts[k] }));
}

const COLOURS = ['#2f6fde', '#e0533d', '#2a9d8f', '#e9a23b', '#8e5bd6', '#5b6470'];

function chart(id, type, labels, datasets, title) {
  datasets.forEach((d, i) => {
    const colour = COLOURS[i % COLOURS.length];
    d.borderColor = colour;
    d.backgroundColor = type === 'bar' ? labels.map((_, k) => COLOURS[k % COLOURS.length]) : colour;
  });
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets = datasets;
    charts[id].update();
    return;
  }
  charts[id] = new Chart($(id), {
    type, data: { labels, datasets },
    options: { animation: false, plugins: { title: { display: true, text: title } },
               scales: { y: { beginAtZero: true, title: { display: true, text: 'seconds' } } } },
  });
}

async function refreshDashboard() {
  const [jobsRes, metricsRes] = await Promise.all([fetch('/v1/videos?limit=50'), fetch('/metrics')]);
  const all = (await jobsRes.json()).data;
  // The last four jobs that ran, oldest first: enough to see one overlap on either side.
  const recent = all.filter((j) => j.timeline && j.timeline.length).slice(0, 4).reverse();
  window.ditstreamTimeline = drawTimeline($('timeline'), $('timeline-legend'), recent);
  const jobs = all.filter((j) => j.status === 'completed').reverse();
  const t = (j, k) => (j.timings[k] ?? null);
  chart('chart-jobs', 'line', jobs.map((j) => j.id.slice(-6)), [
    { label: 'time to first preview', data: jobs.map((j) => t(j, 'first_preview')) },
    { label: 'step (mean)', data: jobs.map((j) => (t(j, 'denoise') ?? 0) / Math.max(1, j.step)) },
    { label: 'slowest decode chunk', data: jobs.map((j) => t(j, 'decode_chunk_max')) },
    { label: 'queue wait', data: jobs.map((j) => t(j, 'queue_wait')) },
    { label: 'time to first final frame', data: jobs.map((j) => t(j, 'first_final_frame')) },
  ], 'per job');
  const means = parseHistogramMeans(await metricsRes.text());
  chart('chart-stages', 'bar', means.map((m) => m.name.replaceAll('_', ' ')),
        [{ label: 'mean seconds', data: means.map((m) => m.mean) }], 'stage means (all jobs, incl. encode per frame)');
}

async function refreshHealth() {
  const res = await fetch('/healthz');
  if (res.ok) {
    const h = await res.json();
    const c = h.compositor;
    const frames = c && `frames: ${c.backend} (${c.device})${c.cuda_interop ? ', CUDA interop' : ''}`;
    $('health').textContent = [h.model, h.pipeline, h.gstreamer, frames].filter(Boolean).join(' · ');
  }
}

$('prompt-form').addEventListener('submit', submitPrompt);
$('timeline').addEventListener('mousemove', (e) => explainTimeline($('timeline'), e));
refreshHealth();
refreshJobs();
refreshDashboard();
setInterval(refreshJobs, 2000);
setInterval(refreshDashboard, 5000);
