// burnstand status page: live updates by Server-Sent Events (GET /events).
// Served from the master's binary; the page's CSP allows no other script. Every text goes
// in with textContent, never as markup.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  const live = document.getElementById("live");

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function button(station, action, label) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/admin";
    for (const [name, value] of [["csrf", csrf], ["action", action], ["station", station]]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    const b = document.createElement("button");
    b.textContent = label;
    form.appendChild(b);
    return form;
  }

  function stationRow(s, admin) {
    const tr = document.createElement("tr");
    tr.dataset.station = s.name;
    tr.className = s.condition;
    const name = cell(tr, s.name);
    name.appendChild(document.createElement("br"));
    const small = document.createElement("small");
    small.textContent = s.location;
    name.appendChild(small);
    cell(tr, s.station_type);
    cell(tr, s.reason ? s.condition + ": " + s.reason : s.condition);
    let state = s.activity;
    if (s.copies > 0) state += ", copy " + s.copy + " of " + s.copies;
    if (s.medium !== "unknown") state += " (" + s.medium + ")";
    cell(tr, state);
    const progress = cell(tr, "");
    if (s.activity === "burning" || s.activity === "verifying") {
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = s.percent;
      progress.appendChild(bar);
      progress.appendChild(document.createTextNode(" " + s.percent + "%"));
    }
    cell(tr, s.holder || "");
    cell(tr, s.image || "");
    if (admin) {
      const actions = cell(tr, "");
      actions.className = "actions";
      actions.appendChild(s.condition === "drained"
        ? button(s.name, "resume", "Resume")
        : button(s.name, "drain", "Drain"));
      if (s.holder) actions.appendChild(button(s.name, "release", "Release"));
    }
    return tr;
  }

  function queueRow(e) {
    const tr = document.createElement("tr");
    cell(tr, String(e.position));
    cell(tr, e.station_type);
    cell(tr, e.user || (e.yours ? "you" : ""));
    cell(tr, Math.ceil(e.eta_seconds / 60) + " min");
    return tr;
  }

  function replace(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    for (const row of rows) tbody.appendChild(row);
  }

  function draw(snapshot) {
    const admin = snapshot.viewer === "admin";
    const stations = document.querySelector("#stations tbody");
    if (stations) replace(stations, snapshot.stations.map((s) => stationRow(s, admin)));
    const queue = document.querySelector("#queue tbody");
    if (queue) replace(queue, snapshot.queue.entries.map(queueRow));
    const length = document.getElementById("queue-length");
    if (length) {
      const perType = snapshot.queue.per_type.map(([t, n]) => t + ": " + n).join(", ");
      length.textContent = snapshot.queue.length + " waiting" + (perType ? " (" + perType + ")" : "");
    }
    const alert = document.getElementById("audit-alert");
    if (alert) alert.hidden = snapshot.audit_healthy;
    if (live) live.textContent = "live: updated " + new Date(snapshot.at_unix_ms).toLocaleTimeString();
  }

  const events = new EventSource("/events");
  events.addEventListener("farm", (message) => {
    try {
      draw(JSON.parse(message.data));
    } catch (e) {
      if (live) live.textContent = "live updates: unreadable event";
    }
  });
  events.onerror = () => {
    if (live) live.textContent = "live updates: reconnecting… (reload the page to log in again)";
  };
})();
