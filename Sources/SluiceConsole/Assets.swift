/// The console's stylesheet and script, served from /static/ (the Content-Security-Policy allows
/// no inline script or style). The script only adds: the page refresh, following a log, and the
/// lag table; it writes text with `textContent`, never markup.
enum Assets {
    static let css = """
    :root { --fail: #b3261e; --ok: #1e7b34; --run: #1f5fbf; --wait: #8a6d00; --muted: #666; }
    * { box-sizing: border-box; }
    body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
    header { display: flex; gap: 24px; align-items: center; background: #1d2733; color: #fff; padding: 10px 20px; }
    header a { color: #fff; text-decoration: none; } header nav a { margin-right: 16px; opacity: .85; }
    .brand { font-weight: 700; font-size: 17px; }
    main { padding: 16px 20px; }
    .banner { padding: 8px 20px; background: #eef2f7; border-bottom: 1px solid #d5dce5; }
    .banner.readonly { background: #fff4d6; border-color: #e6cf8a; }
    .inline { display: inline; }
    table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0 18px; }
    th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e6e6e6; vertical-align: top; }
    th { background: #f1f3f5; font-weight: 600; white-space: nowrap; }
    table.kv th { width: 180px; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    td.time { white-space: nowrap; } td.note { min-width: 200px; } main { overflow-x: auto; }
    tr.failed td { background: #fdecea; } tr.failed td:first-child { border-left: 4px solid var(--fail); }
    .status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e9ecef; }
    .status-failed { background: var(--fail); color: #fff; } .status-succeeded { background: var(--ok); color: #fff; }
    .status-running { background: var(--run); color: #fff; } .status-waiting, .status-pending { background: #fff3c4; color: var(--wait); }
    .status-killed { background: #555; color: #fff; }
    form.filters { display: flex; gap: 10px; flex-wrap: wrap; align-items: end; margin-bottom: 8px; }
    form.filters label, form.action label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
    input, select, button { font: inherit; padding: 4px 8px; }
    button { cursor: pointer; border: 1px solid #888; border-radius: 4px; background: #fff; }
    button.danger { border-color: var(--fail); color: var(--fail); }
    .actions { display: flex; gap: 16px; flex-wrap: wrap; margin: 10px 0; }
    form.action { border: 1px solid #ddd; padding: 8px 10px; background: #fff; display: flex; gap: 8px; align-items: end; }
    pre { background: #0f141a; color: #dfe6ee; padding: 10px; overflow: auto; max-height: 480px; font-size: 12.5px; }
    .log .error { color: #ff9b91; } .log .warning { color: #ffd580; }
    .pager { display: flex; gap: 16px; margin: 8px 0; } .muted, .hint { color: var(--muted); }
    .calendar { display: flex; flex-wrap: wrap; gap: 4px; }
    .day { width: 92px; padding: 6px; border-radius: 4px; font-size: 12px; background: #e9ecef; }
    .day.succeeded { background: #d3f0da; } .day.failed { background: #f8d3cf; } .day.running { background: #d6e4fa; }
    .day.waiting { background: #fff3c4; }
    .error h1 { color: var(--fail); }
    .notice { padding: 8px 12px; background: #e7f5ea; border: 1px solid #b6dfc0; margin-bottom: 10px; }
    """

    static let js = """
    (function () {
      var body = document.body;
      var refresh = parseInt(body.getAttribute('data-refresh') || '0', 10);
      if (refresh > 0) {
        setInterval(function () {
          var active = document.activeElement;
          if (active && (active.tagName === 'INPUT' || active.tagName === 'SELECT')) { return; }
          location.reload();
        }, refresh * 1000);
      }
      var log = document.getElementById('log');
      if (log) {
        var follow = document.getElementById('follow');
        var after = parseInt(log.getAttribute('data-after') || '0', 10);
        var url = log.getAttribute('data-source');
        setInterval(function () {
          if (!follow || !follow.checked) { return; }
          fetch(url + '?after=' + after, { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (data) {
            (data.lines || []).forEach(function (line) {
              var span = document.createElement('span');
              span.className = line.level;
              span.textContent = line.text + '\\n';
              log.appendChild(span);
            });
            after = data.next;
            if ((data.lines || []).length > 0) { log.scrollTop = log.scrollHeight; }
          }).catch(function () {});
        }, 2000);
      }
      var lag = document.getElementById('lag');
      if (lag) {
        fetch(lag.getAttribute('data-source'), { credentials: 'same-origin' }).then(function (r) {
          return r.json().then(function (data) { return { ok: r.ok, data: data }; });
        }).then(function (res) {
          var status = document.getElementById('lag-status');
          if (!res.ok) { status.textContent = 'Lag unavailable: ' + res.data.error; return; }
          status.textContent = 'Total lag ' + res.data.total + ' records, measured from instance ' +
            (res.data.instanceId === undefined ? '(none succeeded yet)' : '#' + res.data.instanceId) + '.';
          var tbody = lag.querySelector('tbody');
          res.data.partitions.forEach(function (p) {
            var tr = document.createElement('tr');
            [p.partition, p.endOffset, p.committedEnd === undefined ? '-' : p.committedEnd, p.lag].forEach(function (v) {
              var td = document.createElement('td');
              td.className = 'num';
              td.textContent = String(v);
              tr.appendChild(td);
            });
            tbody.appendChild(tr);
          });
        }).catch(function (e) { document.getElementById('lag-status').textContent = 'Lag unavailable: ' + e; });
      }
    })();
    """
}
