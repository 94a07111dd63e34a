// partflow monitor: keeps the numbers on the page current.
//
// The page names its JSON (body[data-api]) and its event stream (body[data-events]). Progress
// events from the stream update the rows of their upload at once and schedule a refresh of
// the whole page's data from the API (at most one a second). Without a working stream the
// page polls the API every few seconds instead; with one it still polls every 30 s in case an
// event was lost.
(function () {
  'use strict';

  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });

  var body = document.body;
  var api = body.dataset.api;
  var eventsURL = body.dataset.events;
  var live = document.getElementById('live');
  if (!api) return;

  var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  function bytes(n) {
    n = Number(n) || 0;
    if (n < 10) return n.toFixed(0) + ' B';
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (n < 10 && i > 0 ? n.toFixed(1) : n.toFixed(0)) + ' ' + units[i];
  }
  function ago(iso) {
    var t = Date.parse(iso);
    if (!t || t < 0) return '—';
    var s = Math.round((Date.now() - t) / 1000);
    if (s < 2) return 'now';
    var steps = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600], [Infinity, 'day', 86400]];
    for (var i = 0; i < steps.length; i++) {
      if (s < steps[i][0]) {
        var n = Math.floor(s / steps[i][2]);
        return n + ' ' + steps[i][1] + (n === 1 ? '' : 's') + ' ago';
      }
    }
    return '';
  }
  var formats = {
    bytes: bytes,
    rate: function (v) { return v > 0 ? bytes(v) + '/s' : '—'; },
    ago: ago,
    failed: function (v) { return v > 0 ? '· ' + v + ' failed' : ''; }
  };

  // apply writes the fields of obj into the elements of scope that bind them.
  function apply(scope, obj) {
    if (!scope || !obj) return;
    if (obj.version !== undefined && scope.dataset.version !== undefined) {
      if (Number(obj.version) < Number(scope.dataset.version)) return; // older than what is shown
      scope.dataset.version = obj.version;
    }
    scope.querySelectorAll('[data-bind]').forEach(function (el) {
      var key = el.dataset.bind;
      var v = obj[key];
      if (v === undefined) {
        if (key !== 'error') return;
        v = ''; // omitted when empty
      }
      var fmt = el.dataset.fmt;
      if (el.tagName === 'PROGRESS') {
        var max = Number(obj[el.dataset.max]);
        if (!isNaN(max)) el.max = max > 0 ? max : 1;
        el.value = Number(v) || 0;
      } else if (fmt === 'badge') {
        el.textContent = v;
        el.className = 'badge state-' + v;
      } else if (fmt === 'pct') {
        var of = Number(obj[el.dataset.of]);
        el.textContent = of > 0 ? Math.floor(Number(v) * 100 / of) + '%' : '0%';
      } else if (fmt === 'errorbox') {
        el.textContent = v;
        el.hidden = !v;
      } else {
        el.textContent = formats[fmt] ? formats[fmt](v) : String(v);
        if (key === 'error') el.title = v;
      }
    });
  }

  function each(selector, fn) { document.querySelectorAll(selector).forEach(fn); }
  function attr(name, value) { return '[' + name + '="' + CSS.escape(String(value)) + '"]'; }

  // The current rate, from the bytes done seen over the last ten seconds.
  var samples = [];
  function measure(bytesDone) {
    var now = Date.now();
    samples.push([now, Number(bytesDone) || 0]);
    while (samples.length > 2 && now - samples[0][0] > 10000) samples.shift();
    var el = document.getElementById('rate-now');
    if (!el || samples.length < 2) return;
    var first = samples[0], last = samples[samples.length - 1];
    var secs = (last[0] - first[0]) / 1000;
    el.textContent = secs > 0 ? formats.rate((last[1] - first[1]) / secs) : '—';
  }

  function showParts(parts, tasks) {
    var byPart = {};
    (tasks || []).forEach(function (t) { if (t.part) byPart[t.part] = t; });
    parts.forEach(function (p) {
      var row = document.querySelector('tr' + attr('data-part', p.number));
      if (!row) return;
      var status = row.querySelector('[data-bind="status"]');
      var etag = row.querySelector('[data-bind="etag"]');
      var t = byPart[p.number];
      var state = p.recorded ? 'recorded' : (t ? t.state : 'not recorded');
      if (status) {
        status.textContent = state;
        status.className = 'badge state-' + (p.recorded ? 'completed' : (t ? t.state : 'planned'));
      }
      if (etag) etag.textContent = p.etag || '';
    });
  }

  function refresh() {
    return fetch(api, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (d) {
        if (d.migration) {
          apply(document.querySelector('[data-scope="migration"]'), d.migration);
          measure(d.migration.bytes_done);
        }
        if (d.upload) {
          each(attr('data-upload', d.upload.id), function (s) { apply(s, d.upload); });
          measure(d.upload.bytes_done);
        }
        (d.uploads || []).forEach(function (u) {
          each(attr('data-row', u.id), function (s) { apply(s, u); });
        });
        var unseen = false;
        (d.migrations || []).forEach(function (m) {
          var rows = document.querySelectorAll(attr('data-row', m.id));
          if (!rows.length) unseen = true;
          rows.forEach(function (s) { apply(s, m); });
        });
        var stale = document.getElementById('stale');
        if (stale && unseen) stale.hidden = false;
        if (d.parts) showParts(d.parts, d.tasks);
      });
  }

  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  }

  // One refresh at a time, at most one a second.
  var timer = null, running = false, lastRun = 0, streamOpen = false;
  function schedule() {
    if (timer) return;
    timer = setTimeout(run, Math.max(0, lastRun + 1000 - Date.now()));
  }
  function run() {
    timer = null;
    if (running) { schedule(); return; }
    running = true;
    lastRun = Date.now();
    refresh().then(function () {
      setLive(streamOpen ? 'live' : 'polling', streamOpen ? 'live' : 'polling');
    }, function () {
      setLive('offline', 'offline – retrying');
    }).then(function () { running = false; });
  }

  if (window.EventSource && eventsURL) {
    var es = new EventSource(eventsURL);
    es.addEventListener('hello', function () { streamOpen = true; setLive('live', 'live'); schedule(); });
    es.addEventListener('upload', function (e) {
      try {
        var ev = JSON.parse(e.data);
        each(attr('data-upload', ev.upload), function (s) { apply(s, ev); });
      } catch (err) { /* a malformed event only waits for the refresh */ }
      schedule();
    });
    es.addEventListener('refresh', schedule);
    es.onerror = function () { streamOpen = false; setLive('polling', 'polling'); };
  } else {
    setLive('polling', 'polling');
  }
  setInterval(function () {
    if (!streamOpen || Date.now() - lastRun > 30000) schedule();
  }, 3000);
  schedule();
})();
