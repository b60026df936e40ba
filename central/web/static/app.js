// The page reads the NGSI-LD API like any client (keyValues for tables, the temporal API for the
// chart) and /page-api/indicators for Lden and PM days. A token, when the server wants one, is
// given in the address: http://host:1026/#token=...
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const API = "/ngsi-ld/v1";
const SHOWN = {
  AirQualityObserved: ["pm25", "pm10", "pm1", "temperature", "relativeHumidity"],
  WeatherObserved: ["temperature", "relativeHumidity", "atmosphericPressure"],
  NoiseLevelObserved: ["LAeq", "LAmax"],
  CrowdFlowObserved: ["peopleCount", "peopleCountTowards", "peopleCountAway"],
  TrafficFlowObserved: ["intensity"],
};

async function getJSON(url) {
  const r = await fetch(url, { headers });
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || r.status);
  return body;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function short(id) { return id.split(":").pop().slice(-4); }

function fmt(v) { return v === null || v === undefined ? "–" : (typeof v === "number" ? String(+v.toFixed(3)) : String(v)); }

function drawPlan(devices) {
  const svg = document.getElementById("plan");
  const pts = devices.filter((d) => d.location).map((d) => ({ id: d.id, lon: d.location.coordinates[0], lat: d.location.coordinates[1] }));
  if (!pts.length) return;
  const lons = pts.map((p) => p.lon), lats = pts.map((p) => p.lat);
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const kx = Math.cos((midLat * Math.PI) / 180); // equirectangular: shrink longitudes by cos(latitude)
  const spanX = Math.max((Math.max(...lons) - Math.min(...lons)) * kx, 1e-4);
  const spanY = Math.max(Math.max(...lats) - Math.min(...lats), 1e-4);
  const s = Math.min(340 / spanX, 240 / spanY);
  for (const p of pts) {
    const x = 30 + ((p.lon - Math.min(...lons)) * kx) * s, y = 270 - (p.lat - Math.min(...lats)) * s;
    const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", 7);
    const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("x", x + 10); t.setAttribute("y", y + 4); t.textContent = short(p.id);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = p.id; c.appendChild(title);
    svg.append(c, t);
  }
}

function drawLatest(observed) {
  const table = document.getElementById("latest");
  table.append(Object.assign(el("tr"), { innerHTML: "<th>sensor</th><th>model</th><th>values</th><th>observed</th>" }));
  for (const e of observed) {
    const tr = el("tr");
    const vals = (SHOWN[e.type] || []).filter((a) => a in e).map((a) => a + " " + fmt(e[a])).join(", ");
    tr.append(el("td", {}, short(e.id)), el("td", {}, e.type), el("td", {}, vals), el("td", {}, e.dateObserved || ""));
    table.append(tr);
  }
}

let plot = null;
async function drawChart() {
  const id = document.getElementById("entity").value, attr = document.getElementById("attr").value;
  if (!id || !attr) return;
  const e = await getJSON(API + "/temporal/entities/" + encodeURIComponent(id) + "?lastN=500");
  const inst = (e[attr] || []).map((i) => [Date.parse(i.observedAt) / 1000, i.value]).sort((a, b) => a[0] - b[0]);
  const data = [inst.map((p) => p[0]), inst.map((p) => p[1])];
  const box = document.getElementById("chart");
  if (plot) plot.destroy();
  plot = new uPlot({ width: Math.max(box.clientWidth, 380), height: 220, series: [{}, { label: attr, stroke: "#2a7ab0", width: 2 }] }, data, box);
}

function fillSelectors(observed) {
  const entity = document.getElementById("entity"), attr = document.getElementById("attr");
  for (const e of observed) entity.append(el("option", { value: e.id }, short(e.id) + " " + e.type));
  const setAttrs = () => {
    const e = observed.find((x) => x.id === entity.value);
    attr.replaceChildren(...(SHOWN[e.type] || []).filter((a) => a in e).map((a) => el("option", { value: a }, a)));
    drawChart();
  };
  entity.onchange = setAttrs; attr.onchange = drawChart;
  if (observed.length) setAttrs();
}

function drawIndicators(ind) {
  const noise = document.getElementById("noise");
  noise.append(Object.assign(el("tr"), { innerHTML: "<th>sensor</th><th>day</th><th>Lday</th><th>Levening</th><th>Lnight</th><th>Lden</th>" }));
  for (const r of ind.noise) {
    const tr = el("tr");
    tr.append(el("td", {}, short(r.dev_eui)), el("td", {}, r.date));
    for (const k of ["lday", "levening", "lnight", "lden"]) tr.append(el("td", { class: r[k] === null ? "na" : "" }, fmt(r[k])));
    noise.append(tr);
  }
  const pm = document.getElementById("pm");
  pm.append(Object.assign(el("tr"), { innerHTML: "<th>sensor</th><th>day</th><th>quantity</th><th>mean</th><th>hours</th>" }));
  for (const r of ind.pm) {
    const tr = el("tr");
    tr.append(el("td", {}, short(r.dev_eui)), el("td", {}, r.date), el("td", {}, r.quantity === "pm2_5" ? "PM2.5" : "PM10"),
      el("td", { class: r.exceeds ? "bad" : (r.valid ? "" : "na") }, r.valid ? fmt(r.mean) : "incomplete"),
      el("td", {}, r.hours + "/" + r.hours_in_day));
    pm.append(tr);
  }
}

function drawAlerts(alerts) {
  const table = document.getElementById("alerts");
  if (!alerts.length) {
    const tr = el("tr");
    tr.append(el("td", { class: "na" }, "none"));
    table.append(tr);
    return;
  }
  table.append(Object.assign(el("tr"), { innerHTML: "<th>sensor</th><th>alert</th><th>since</th><th>message</th>" }));
  for (const a of alerts) {
    const tr = el("tr");
    tr.append(el("td", {}, short(a.dev_eui)), el("td", { class: "bad" }, a.alert + (a.quantity ? " " + a.quantity : "")),
      el("td", {}, new Date(a.raised_at * 1000).toISOString().slice(0, 16).replace("T", " ")), el("td", {}, a.message));
    table.append(tr);
  }
}

async function main() {
  const status = document.getElementById("status");
  try {
    const all = await getJSON(API + "/entities?limit=1000&options=keyValues");
    // Observations point to their Device with refDevice; DeviceOperation entities (history) do not.
    const devices = all.filter((e) => e.type === "Device"), observed = all.filter((e) => e.refDevice);
    drawPlan(devices);
    drawLatest(observed);
    fillSelectors(observed);
    drawIndicators(await getJSON("/page-api/indicators"));
    drawAlerts(await getJSON("/page-api/alerts"));
    status.textContent = devices.length + " sensors, " + observed.length + " observed entities";
    document.body.dataset.ready = "1";
  } catch (err) {
    status.textContent = "error: " + err.message;
    document.body.dataset.ready = "error";
  }
}
main();
