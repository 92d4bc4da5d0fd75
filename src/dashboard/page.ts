/**
 * The dashboard page and its script: no framework, no build step. Charts are drawn on
 * canvas from the samples the server streams; the page keeps the last 600 of them. Panels
 * show only when their samples carry what they draw: the lanes for a pipeline in this
 * process, the cluster (nodes, and lag per partition as bars) for a cluster journal.
 */

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function page(title: string, token: string | undefined): string {
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>sluice · ${escapeHtml(title)}</title>
<style>
  :root { --bg: #0f1419; --panel: #171d24; --line: #2a323c; --text: #d7dde4; --dim: #8593a3;
          --blue: #4ea1ff; --green: #3fcf8e; --amber: #f5b64c; --red: #ff6b6b; --violet: #b78cff; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text);
         font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 20px;
           border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header .source { color: var(--dim); }
  header .status { margin-left: auto; color: var(--dim); font-size: 13px; }
  header .status.live::before { content: "●"; color: var(--green); margin-right: 6px; }
  header .status.down::before { content: "●"; color: var(--red); margin-right: 6px; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
  .tile { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  .tile .label { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .tile .value { font-size: 22px; font-variant-numeric: tabular-nums; margin-top: 2px; }
  .tile.warn .value { color: var(--amber); }
  .tile.bad .value { color: var(--red); }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
  .tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
  .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
  .panel h2 { font-size: 13px; font-weight: 600; margin: 0 0 8px; color: var(--dim);
              text-transform: uppercase; letter-spacing: .04em; }
  .legend { display: flex; gap: 14px; font-size: 12px; color: var(--dim); margin-bottom: 6px; flex-wrap: wrap; }
  .legend i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 5px; }
  canvas { width: 100%; height: 180px; display: block; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
  th { color: var(--dim); font-weight: 500; }
  td.num, th.num { text-align: right; }
  .state-writing { color: var(--green); } .state-idle { color: var(--dim); }
  .state-waiting { color: var(--amber); }
  .empty { color: var(--dim); padding: 8px; }
  .hidden { display: none; }
  td.error { color: var(--red); max-width: 480px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .summary { color: var(--dim); font-size: 13px; margin-bottom: 6px; }
  canvas.bars { height: 120px; margin-bottom: 10px; }
  td.free { color: var(--amber); }
</style>
</head>
<body>
<header>
  <h1>sluice</h1>
  <span class="source">${escapeHtml(title)}</span>
  <span id="status" class="status">connecting…</span>
</header>
<main>
  <section class="tiles">
    <div class="tile"><div class="label">Written</div><div class="value" id="written">–</div></div>
    <div class="tile"><div class="label">In the sink</div><div class="value" id="persisted">–</div></div>
    <div class="tile"><div class="label">Writes/s</div><div class="value" id="writeRate">–</div></div>
    <div class="tile"><div class="label">Persisted/s</div><div class="value" id="persistRate">–</div></div>
    <div class="tile"><div class="label">Backlog</div><div class="value" id="backlog">–</div></div>
    <div class="tile"><div class="label">Checkpoint lag</div><div class="value" id="lag">–</div></div>
    <div class="tile" id="deadLettersTile"><div class="label">Dead letters</div><div class="value" id="deadLetters">–</div></div>
    <div class="tile pipeline"><div class="label">Batches</div><div class="value" id="batches">–</div></div>
    <div class="tile pipeline"><div class="label">Retries</div><div class="value" id="retried">–</div></div>
    <div class="tile pipeline" id="sinkTile"><div class="label">Sink</div><div class="value" id="sink">–</div></div>
    <div class="tile"><div class="label">Journal</div><div class="value" id="journal">–</div></div>
  </section>
  <section class="charts">
    <div class="panel"><h2>Throughput, entries/s</h2><div class="legend" data-for="throughput"></div><canvas id="throughput"></canvas></div>
    <div class="panel"><h2>Backlog and checkpoint lag, entries</h2><div class="legend" data-for="backlogChart"></div><canvas id="backlogChart"></canvas></div>
    <div class="panel pipeline"><h2>Latency, ms (recent)</h2><div class="legend" data-for="latency"></div><canvas id="latency"></canvas></div>
    <div class="panel pipeline"><h2>Batch size, entries (recent)</h2><div class="legend" data-for="batchSize"></div><canvas id="batchSize"></canvas></div>
  </section>
  <section class="tables">
    <div class="panel cluster hidden" id="clusterPanel"><h2>Cluster</h2><div class="summary" id="clusterSummary"></div><div class="legend" data-for="partitionLag"></div><canvas id="partitionLag" class="bars"></canvas><table id="nodes"><thead><tr><th>Node</th><th class="num">Partitions</th><th>Which</th><th class="num">Heartbeat</th></tr></thead><tbody></tbody></table><div class="empty" id="noNodes">No live node: nothing is being delivered.</div></div>
    <div class="panel pipeline"><h2>Lanes</h2><table id="workers"><thead><tr><th>Lane</th><th>State</th><th class="num">In sink</th><th class="num">Queued</th><th class="num">Dead-lettered</th></tr></thead><tbody></tbody></table></div>
    <div class="panel"><h2>Consumers</h2><table id="consumers"><thead><tr><th>Consumer</th><th class="num">Checkpoint</th><th class="num">Lag</th></tr></thead><tbody></tbody></table></div>
    <div class="panel"><h2>Dead letters</h2><table id="deadLetterList"><thead><tr><th class="num">Id</th><th>Key</th><th class="num">Attempts</th><th>Error</th></tr></thead><tbody></tbody></table><div class="empty" id="noDeadLetters">None: every entry reached the sink.</div></div>
  </section>
</main>
<script src="/app.js${query}"></script>
</body>
</html>
`;
}

/** The page's script (served at /app.js, so the page's CSP can forbid inline scripts). */
export const APP_JS = String.raw`'use strict';
(function () {
  // The token this script was served with (by parameter or header) goes on every request.
  var token = new URL(document.currentScript.src).searchParams.get('token');
  var q = token ? '?token=' + encodeURIComponent(token) : '';
  var points = [];
  var KEEP = 600;
  var seenDeadLetters = -1;
  var colors = { blue: '#4ea1ff', green: '#3fcf8e', amber: '#f5b64c', red: '#ff6b6b', violet: '#b78cff' };

  var charts = {
    throughput: [
      { label: 'written/s', color: colors.blue, pick: function (p) { return p.writeRate; } },
      { label: 'persisted/s', color: colors.green, pick: function (p) { return p.persistRate; } }
    ],
    backlogChart: [
      { label: 'backlog', color: colors.amber, pick: function (p) { return p.backlog; } },
      { label: 'lag', color: colors.violet, pick: function (p) { return p.lag; } }
    ],
    latency: [
      { label: 'end to end p50', color: colors.blue, pick: function (p) { return p.pipeline && p.pipeline.endToEndLatencyMs.p50; } },
      { label: 'end to end p99', color: colors.red, pick: function (p) { return p.pipeline && p.pipeline.endToEndLatencyMs.p99; } },
      { label: 'flush p50', color: colors.green, pick: function (p) { return p.pipeline && p.pipeline.flushLatencyMs.p50; } },
      { label: 'flush p99', color: colors.amber, pick: function (p) { return p.pipeline && p.pipeline.flushLatencyMs.p99; } }
    ],
    batchSize: [
      { label: 'p50', color: colors.blue, pick: function (p) { return p.pipeline && p.pipeline.batchSize.p50; } },
      { label: 'p99', color: colors.violet, pick: function (p) { return p.pipeline && p.pipeline.batchSize.p99; } }
    ]
  };

  // Lag per partition, one bar each: blue while a live node owns it, amber while none does.
  var bars = [
    { label: 'lag, owned', color: colors.blue },
    { label: 'lag, no live owner', color: colors.amber }
  ];

  var legends = { partitionLag: bars };
  Object.keys(charts).forEach(function (id) { legends[id] = charts[id]; });
  Object.keys(legends).forEach(function (id) {
    var legend = document.querySelector('.legend[data-for="' + id + '"]');
    legends[id].forEach(function (s) {
      var span = document.createElement('span');
      var swatch = document.createElement('i');
      swatch.style.background = s.color;
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(s.label));
      legend.appendChild(span);
    });
  });

  function fmt(n) {
    if (n === undefined || n === null || !isFinite(n)) return '–';
    return Math.round(n).toLocaleString('en-US');
  }
  function short(n) {
    var a = Math.abs(n);
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    if (a >= 10 || n === 0) return String(Math.round(n));
    return n.toFixed(1);
  }
  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }
  function text(id, value) { document.getElementById(id).textContent = value; }

  function draw(id) {
    var canvas = document.getElementById(id);
    var series = charts[id];
    var ctx = canvasContext(canvas);
    var width = canvas.clientWidth, height = canvas.clientHeight;
    var left = 48, right = 8, top = 6, bottom = 20;
    var w = width - left - right, h = height - top - bottom;
    var max = 0;
    points.forEach(function (p) {
      series.forEach(function (s) { var v = s.pick(p); if (v > max) max = v; });
    });
    var yMax = drawGrid(ctx, left, top, w, h, max, 4);
    canvas.dataset.points = String(points.length);
    if (points.length < 2) return;
    var t0 = points[0].t, t1 = points[points.length - 1].t;
    var span = Math.max(1, t1 - t0);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillText('-' + Math.round(span / 1000) + ' s', left + 14, top + h + 5);
    ctx.fillText('now', left + w - 12, top + h + 5);
    series.forEach(function (s) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      var started = false;
      points.forEach(function (p) {
        var v = s.pick(p);
        if (v === undefined || v === null) return;
        var x = left + ((p.t - t0) / span) * w;
        var y = top + h - (v / yMax) * h;
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      });
      ctx.stroke();
    });
  }
  function live(lease) {
    return lease.owner !== null && lease.expiresInMs !== null && lease.expiresInMs > 0;
  }
  function drawBars(id, leases) {
    var canvas = document.getElementById(id);
    var ctx = canvasContext(canvas);
    var width = canvas.clientWidth, height = canvas.clientHeight;
    var left = 48, right = 8, top = 6, bottom = 18;
    var w = width - left - right, h = height - top - bottom;
    var max = 0;
    leases.forEach(function (l) { if (l.lag > max) max = l.lag; });
    var yMax = drawGrid(ctx, left, top, w, h, max, 2);
    canvas.dataset.bars = String(leases.length);
    if (leases.length === 0) return;
    var slot = w / leases.length;
    var gap = slot > 6 ? Math.min(4, slot / 4) : 0;
    // A label under every partition while they fit, else under every n-th.
    var every = Math.max(1, Math.ceil(24 / slot));
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    leases.forEach(function (l, i) {
      var x = left + i * slot;
      var barHeight = (l.lag / yMax) * h;
      ctx.fillStyle = live(l) ? colors.blue : colors.amber;
      // A partition without lag still shows where it is: a one-pixel bar.
      ctx.fillRect(x + gap / 2, top + h - Math.max(1, barHeight), Math.max(1, slot - gap), Math.max(1, barHeight));
      if (i % every === 0) {
        ctx.fillStyle = '#8593a3';
        ctx.fillText(String(l.partition), x + slot / 2, top + h + 4);
      }
    });
  }
  function ranges(partitions) {
    var sorted = partitions.slice().sort(function (a, b) { return a - b; });
    var out = [];
    for (var i = 0; i < sorted.length; ) {
      var j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
      out.push(i === j ? String(sorted[i]) : sorted[i] + '–' + sorted[j]);
      i = j + 1;
    }
    return out.join(', ');
  }
  function renderCluster(c) {
    var owned = c.leases.filter(live).length;
    text('clusterSummary', 'consumer ' + c.consumer + ' · ' + fmt(c.partitions) + ' partitions · ' +
      fmt(c.nodes.length) + (c.nodes.length === 1 ? ' node' : ' nodes') +
      (c.leases.length === 0 ? ' · no node has worked this consumer yet'
        : ' · ' + fmt(c.partitions - owned) + ' without a live owner'));
    drawBars('partitionLag', c.leases);
    document.getElementById('noNodes').classList.toggle('hidden', c.nodes.length > 0);
    rows('nodes', c.nodes, function (n) {
      return [{ text: n.node }, { text: fmt(n.partitions.length), cls: 'num' },
        { text: ranges(n.partitions) },
        { text: n.expiresInMs > 0 ? (n.expiresInMs / 1000).toFixed(1) + ' s' : 'expired', cls: 'num' + (n.expiresInMs > 0 ? '' : ' free') }];
    });
  }
  // The canvas sized for the screen's pixel ratio, cleared; its 2D context.
  function canvasContext(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
      canvas.width = width * ratio;
      canvas.height = height * ratio;
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return ctx;
  }
  // Horizontal grid lines with their labels, at least \`lines\` steps up to \`max\`; the top value.
  function drawGrid(ctx, left, top, w, h, max, lines) {
    var step = niceStep(max / lines || 1);
    var yMax = Math.max(step * lines, step * Math.ceil(max / step));
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#8593a3';
    ctx.strokeStyle = '#2a323c';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (var g = 0; g <= yMax + step / 2; g += step) {
      var y = top + h - (g / yMax) * h;
      ctx.beginPath(); ctx.moveTo(left, Math.round(y) + 0.5); ctx.lineTo(left + w, Math.round(y) + 0.5); ctx.stroke();
      ctx.fillText(short(g), left - 6, y);
    }
    return yMax;
  }
  function niceStep(raw) {
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / power;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
  }

  function rows(tableId, items, cells) {
    var body = document.querySelector('#' + tableId + ' tbody');
    body.textContent = '';
    items.forEach(function (item) {
      var tr = document.createElement('tr');
      cells(item).forEach(function (c) {
        var td = document.createElement('td');
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
        if (c.title) td.title = c.title;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function render() {
    var p = points[points.length - 1];
    if (!p) return;
    text('written', fmt(p.written));
    text('persisted', fmt(p.persisted));
    text('writeRate', fmt(p.writeRate));
    text('persistRate', fmt(p.persistRate));
    text('backlog', fmt(p.backlog));
    text('lag', fmt(p.lag));
    text('deadLetters', fmt(p.deadLetters));
    document.getElementById('deadLettersTile').className = 'tile' + (p.deadLetters > 0 ? ' bad' : '');
    text('journal', bytes(p.journal.bytes));
    var pipeline = !!p.pipeline;
    document.querySelectorAll('.pipeline').forEach(function (el) { el.classList.toggle('hidden', !pipeline); });
    if (pipeline) {
      text('batches', fmt(p.pipeline.batches));
      text('retried', fmt(p.pipeline.retried));
      var down = p.pipeline.unavailableForMs;
      text('sink', down > 0 ? 'unavailable ' + (down / 1000).toFixed(1) + ' s' : 'ok' + (p.pipeline.outages > 0 ? ' (' + fmt(p.pipeline.outages) + ' outages)' : ''));
      document.getElementById('sinkTile').className = 'tile pipeline' + (down > 0 ? ' bad' : '');
      rows('workers', p.pipeline.workers, function (wk) {
        return [{ text: '#' + wk.id }, { text: wk.state, cls: 'state-' + wk.state },
          { text: fmt(wk.processed), cls: 'num' }, { text: fmt(wk.queued), cls: 'num' },
          { text: fmt(wk.failed), cls: 'num' }];
      });
    }
    var cluster = !!p.cluster;
    document.querySelectorAll('.cluster').forEach(function (el) { el.classList.toggle('hidden', !cluster); });
    if (cluster) renderCluster(p.cluster);
    rows('consumers', p.journal.consumers, function (c) {
      return [{ text: c.consumer }, { text: fmt(c.position), cls: 'num' }, { text: fmt(c.lag), cls: 'num' }];
    });
    Object.keys(charts).forEach(draw);
    if (p.deadLetters !== seenDeadLetters) {
      seenDeadLetters = p.deadLetters;
      loadDeadLetters();
    }
  }

  function loadDeadLetters() {
    fetch('/api/dead-letters' + q + (q ? '&' : '?') + 'limit=20')
      .then(function (r) { return r.json(); })
      .then(function (letters) {
        document.getElementById('noDeadLetters').classList.toggle('hidden', letters.length > 0);
        rows('deadLetterList', letters, function (l) {
          return [{ text: String(l.id), cls: 'num' }, { text: l.key },
            { text: String(l.attempts), cls: 'num' }, { text: l.error, cls: 'error', title: l.error }];
        });
      })
      .catch(function () {});
  }

  function connect() {
    var status = document.getElementById('status');
    var events = new EventSource('/events' + q);
    events.addEventListener('history', function (e) {
      points = JSON.parse(e.data).slice(-KEEP);
      render();
    });
    events.addEventListener('sample', function (e) {
      points.push(JSON.parse(e.data));
      if (points.length > KEEP) points.shift();
      status.className = 'status live';
      status.textContent = 'live · ' + new Date().toLocaleTimeString();
      render();
    });
    events.onerror = function () {
      status.className = 'status down';
      status.textContent = 'disconnected, retrying…';
    };
  }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(draw);
    var p = points[points.length - 1];
    if (p && p.cluster) drawBars('partitionLag', p.cluster.leases);
  });
  connect();
})();
`;
