// Stevedore's console: one page, routed by the URL's fragment, drawn from the JSON the console's
// endpoints serve. Nothing is loaded from elsewhere; text from the cluster is only ever set as
// text (never parsed as HTML).
"use strict";

const ECS = "AmazonEC2ContainerServiceV20141113.";
const ATHENA = "AmazonAthena.";
const session = { csrf: null, signedIn: false };
let current = null; // { refresh(), leave() } of the page shown
let refreshTimer = null;
let generation = 0; // which navigation the page shown belongs to
let refreshing = null; // the refresh under way, and whether another was asked for meanwhile

// MARK: Building the page

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP, unlike style attributes
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(text) {
  return el("span", { class: "status " + String(text || "").replace(/[^A-Za-z_]/g, ""), text: text || "—" });
}

function table(headers, rows, options) {
  const head = el("tr", {}, headers.map((h) => el("th", { scope: "col", class: h.num ? "num" : null, text: h.label || h })));
  const body = rows.length
    ? rows.map((cells) => el("tr", {}, cells.map((cell, i) => el("td", { class: headers[i] && headers[i].num ? "num" : null }, cell))))
    : [el("tr", {}, el("td", { colspan: headers.length, class: "muted", text: (options && options.empty) || "None." }))];
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
}

// Dates arrive as seconds since 1970 (as AWS's JSON has them) or as ISO text; shown in the viewer's zone.
function time(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return isNaN(date) ? String(value) : date.toLocaleString();
}

function link(href, text) { return el("a", { href, text }); }

function toast(message, isError) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = "toast" + (isError ? " error" : "");
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 4000);
}

// MARK: Talking to ecsd

async function getJSON(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) { showSignIn(); throw new Error("Signed out."); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

async function postJSON(path, payload) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Console-CSRF": session.csrf || "" },
    body: JSON.stringify(payload),
  });
  if (response.status === 401) { showSignIn(); throw new Error("Signed out."); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

// An AWS JSON operation, as the signed-in user: its answer, or an Error with AWS's message.
async function aws(target, input) {
  const answer = await postJSON("/console/api/aws", { target, input });
  let body = {};
  try { body = answer.body ? JSON.parse(answer.body) : {}; } catch (e) { body = { message: answer.body }; }
  if (answer.status >= 300) throw new Error((body.__type ? body.__type.split("#").pop() + ": " : "") + (body.message || body.Message || "failed"));
  return body;
}

// A Lambda REST operation, as the signed-in user.
async function lambda(method, path, body) {
  return postJSON("/console/api/lambda", { method, path, body: body === undefined ? "" : body });
}

function confirmThen(message, action) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = message;
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "ok") return;
    try {
      const result = await action();
      toast(result || "Done.");
      scheduleRefresh(0);
    } catch (error) {
      toast(error.message, true);
    }
  };
  dialog.showModal();
  document.getElementById("confirm-ok").focus();
}

// MARK: Charts (SVG, drawn here)

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}

// series: [{ name, color, points: [[timeMs, value|null], …] }]
function lineChart(title, series, options) {
  const width = 960, height = 200, left = 44, right = 12, top = 10, bottom = 22;
  const all = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
  const figure = el("figure", { class: "card" }, el("figcaption", { text: title }));
  if (!all.length) { figure.append(el("p", { class: "muted", text: "No data yet." })); return figure; }
  const times = all.map((p) => p[0]);
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
  const largest = Math.max(1, ...all.map((p) => p[1]));
  // Counts get whole-number scales; durations a tenth above their largest value.
  const maxValue = all.every((p) => Number.isInteger(p[1])) ? Math.ceil(largest * 1.1) : largest * 1.1;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - v / maxValue) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  for (const fraction of [0, 0.5, 1]) {
    const value = maxValue * fraction;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), stroke: "#e3e7ec" }));
    const label = svg("text", { x: left - 4, y: y(value) + 3, "text-anchor": "end" });
    label.textContent = Number.isInteger(value) || value >= 10 ? Math.round(value) : value.toFixed(1);
    chart.append(label);
  }
  for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
    const label = svg("text", { x: x(t), y: height - 6, "text-anchor": anchor });
    label.textContent = new Date(t).toLocaleTimeString();
    chart.append(label);
  }
  for (const s of series) {
    const kept = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
    const points = [];
    kept.forEach((p, i) => {
      // Counts change at once: drawn as steps. Durations are drawn point to point.
      if (options && options.steps && i > 0) points.push(`${x(p[0]).toFixed(1)},${y(kept[i - 1][1]).toFixed(1)}`);
      points.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    });
    chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: s.color, "stroke-width": 2, "stroke-dasharray": s.dash || "none", "data-series": s.name }));
    const last = points[points.length - 1];
    if (last) { const [cx, cy] = last.split(","); chart.append(svg("circle", { cx, cy, r: 3, fill: s.color })); }
  }
  figure.append(chart, el("div", { class: "legend" }, series.map((s) => el("span", {}, el("i", { style: `background:${s.color}` }), s.name + (options && options.unit ? ` (${options.unit})` : "")))));
  return figure;
}

function usageBar(kind, label, usage) {
  const reserved = Math.max(0, usage.registered - usage.remaining);
  const percent = usage.registered ? Math.round((reserved / usage.registered) * 100) : 0;
  return el("div", {},
    el("div", { class: "barlabel" }, el("span", { text: label }), el("span", { text: `${reserved} / ${usage.registered} reserved` })),
    el("div", { class: `bar ${kind}`, role: "meter", "aria-label": `${label} reserved`, "aria-valuemin": 0, "aria-valuemax": usage.registered, "aria-valuenow": reserved, "data-percent": percent },
      el("span", { style: `width:${percent}%` })));
}

// MARK: Pages

const pages = {
  async clusters(main) {
    const body = el("div");
    main.append(el("h1", { text: "Clusters" }), body);
    return async () => {
      const data = await getJSON("/console/api/clusters");
      body.replaceChildren(table(
        ["Cluster", "Status", { label: "Instances", num: true }, { label: "Connected", num: true }, { label: "Running", num: true }, { label: "Pending", num: true }, { label: "Services", num: true }],
        data.clusters.map((c) => [link(`#/cluster/${encodeURIComponent(c.name)}`, c.name), status(c.status), c.instances, c.connectedInstances, c.runningTasks, c.pendingTasks, c.services]),
        { empty: "No clusters yet: run a task or register an instance." }));
    };
  },

  async cluster(main, name) {
    const body = el("div");
    main.append(el("h1", { text: `Cluster ${name}` }), body);
    return async () => {
      const data = await getJSON(`/console/api/clusters/${encodeURIComponent(name)}`);
      const zones = data.zones.map((zone) => el("div", { class: "zone" },
        el("h3", { text: zone === "-" ? "No zone" : `Zone ${zone}` }),
        el("div", { class: "grid" }, data.instances.filter((i) => i.zone === zone).map((i) => instanceCard(data.name, i)))));
      body.replaceChildren(
        el("div", { class: "figures" },
          el("div", { class: "figure" }, el("b", { text: data.instances.length }), "instances"),
          el("div", { class: "figure" }, el("b", { text: data.runningTasks }), "running tasks"),
          el("div", { class: "figure" }, el("b", { text: data.pendingTasks }), "pending tasks")),
        el("p", {}, link(`#/tasks?cluster=${encodeURIComponent(data.name)}`, "Tasks of this cluster")),
        el("h2", { text: "Instances" }),
        ...(data.instances.length ? zones : [el("p", { class: "muted", text: "No instances registered." })]),
        el("h2", { text: "Services" }),
        table(["Service", "Status", { label: "Desired", num: true }, { label: "Running", num: true }, { label: "Pending", num: true }, "Task definition", "Rollout"],
          data.services.map((s) => [link(`#/service/${encodeURIComponent(data.name)}/${encodeURIComponent(s.name)}`, s.name), status(s.status), s.desired, s.running, s.pending, s.taskDefinition, s.rolloutState || "—"])),
        el("h2", { text: "Capacity providers" }),
        table(["Provider", "Status", "Group", { label: "Reservation %", num: true }, { label: "Target %", num: true }, { label: "Instances", num: true }, { label: "Desired", num: true }],
          data.capacityProviders.map((p) => [p.name, status(p.status), p.autoScalingGroup || "—", p.reservation === undefined || p.reservation === null ? "—" : p.reservation.toFixed(0), p.targetCapacity ?? "—", p.instances ?? "—", p.desiredInstances ?? "—"])));
    };
  },

  async service(main, cluster, name) {
    const body = el("div");
    const count = el("input", { type: "number", min: 0, max: 5000, id: "desired-count", "aria-label": "Desired count", style: "width:6em" });
    const scale = el("button", { type: "button", class: "primary", id: "scale-service", text: "Scale" });
    const deploy = el("button", { type: "button", id: "force-deployment", text: "Force new deployment" });
    scale.onclick = () => {
      const desired = Number(count.value);
      if (!Number.isInteger(desired) || desired < 0) { toast("Enter a whole number of tasks, 0 or more.", true); return; }
      confirmThen(`Scale ${name} to ${desired} task(s)?`, async () => {
        await aws(ECS + "UpdateService", { cluster, service: name, desiredCount: desired });
        return `${name} scaling to ${desired}.`;
      });
    };
    deploy.onclick = () => confirmThen(`Start a new deployment of ${name}? Its tasks are replaced.`, async () => {
      await aws(ECS + "UpdateService", { cluster, service: name, forceNewDeployment: true });
      return "New deployment started.";
    });
    main.append(el("h1", { text: `Service ${name}` }), el("p", {}, link(`#/cluster/${encodeURIComponent(cluster)}`, `← ${cluster}`)),
      el("div", { class: "toolbar" }, el("label", {}, "Desired count", count), scale, deploy), body);
    let first = true;
    return async () => {
      const data = await getJSON(`/console/api/services/${encodeURIComponent(cluster)}/${encodeURIComponent(name)}`);
      if (first) { count.value = data.desired; first = false; }
      const history = data.history;
      const parts = [
        el("div", { class: "figures" },
          el("div", { class: "figure" }, el("b", { id: "service-running", text: data.running }), "running"),
          el("div", { class: "figure" }, el("b", { id: "service-pending", text: data.pending }), "pending"),
          el("div", { class: "figure" }, el("b", { id: "service-desired", text: data.desired }), "desired"),
          el("div", { class: "figure" }, el("b", { text: data.taskDefinition }), "task definition")),
        el("p", {}, link(`#/tasks?cluster=${encodeURIComponent(cluster)}&service=${encodeURIComponent(name)}`, "Tasks of this service")),
        lineChart("Tasks over time", [
          { name: "running", color: "#2e7d5b", points: history.map((s) => [s.time, s.running]) },
          { name: "pending", color: "#c98a00", points: history.map((s) => [s.time, s.pending]) },
          { name: "desired", color: "#1f5fbf", dash: "6 4", points: history.map((s) => [s.time, s.desired]) },
        ], { steps: true }),
        el("h2", { text: "Deployments" }),
        table(["Deployment", "Status", "Task definition", { label: "Desired", num: true }, { label: "Running", num: true }, { label: "Pending", num: true }, { label: "Failed", num: true }, "Rollout", "Progress"],
          data.deployments.map((d) => [d.id, status(d.status), d.taskDefinition, d.desired, d.running, d.pending, d.failed,
            el("span", {}, status(d.rolloutState || "—"), d.rolloutStateReason ? el("div", { class: "muted", text: d.rolloutStateReason }) : null),
            el("progress", { max: Math.max(d.desired, 1), value: Math.min(d.running, Math.max(d.desired, 1)), "aria-label": `${d.running} of ${d.desired} running` })])),
      ];
      if (data.scaling) {
        parts.push(el("h2", { text: `Scaling (${data.scaling.minCapacity}–${data.scaling.maxCapacity} tasks)` }),
          table(["Policy", "Type", "Metric", { label: "Target", num: true }, { label: "Now", num: true }], data.scaling.policies.map((p) => {
            const latest = data.metrics.length ? metricValue(data.metrics[data.metrics.length - 1], p.metric) : null;
            return [p.name, p.type, p.metric || "—", p.targetValue ?? "—", latest === null ? "—" : latest.toFixed(1)];
          })),
          ...data.scaling.policies.filter((p) => p.targetValue !== undefined && p.targetValue !== null && p.metric).map((p) => lineChart(`${p.metric} against its target`, [
            { name: p.metric, color: "#7a4fbf", points: data.metrics.map((m) => [m.at * 1000, metricValue(m, p.metric)]) },
            { name: "target", color: "#b3261e", dash: "6 4", points: data.metrics.length ? [[data.metrics[0].at * 1000, p.targetValue], [data.metrics[data.metrics.length - 1].at * 1000, p.targetValue]] : [] },
          ])),
          table(["Started", "Activity", "Cause", "Status"], data.scaling.activities.map((a) => [time(a.startTime), a.description, a.cause, status(a.status)]), { empty: "No scaling activities yet." }));
      }
      if (data.loadBalancers.length) parts.push(el("h2", { text: "Load balancers" }), el("ul", {}, data.loadBalancers.map((b) => el("li", { text: b }))));
      for (const group of data.targetGroups) {
        parts.push(el("h2", { text: `Target group ${group.name}` }),
          table(["Target", "Task", "Health", "Reason"], group.targets.map((t) => [el("span", { class: "mono", text: t.target }), t.task.split("/").pop().slice(0, 12), status(t.state), t.description || t.reason || ""]),
            { empty: "No registered targets (tasks register once RUNNING)." }));
      }
      parts.push(el("h2", { text: "Events" }), table(["Time", "Message"], data.events.map((e) => [time(e.createdAt), e.message])));
      body.replaceChildren(...parts);
    };
  },

  async tasks(main, query) {
    const filters = new URLSearchParams(query || "");
    const form = el("form", { class: "inline", id: "task-filters" });
    const fields = {};
    for (const [key, label] of [["cluster", "Cluster"], ["family", "Family"], ["instance", "Instance"], ["service", "Service"]]) {
      fields[key] = el("input", { name: key, value: filters.get(key) || "", size: 14 });
      form.append(el("label", {}, label, fields[key]));
    }
    fields.status = el("select", { name: "status" }, ["", "RUNNING", "PENDING", "PROVISIONING", "ACTIVATING", "DEACTIVATING", "STOPPING", "STOPPED"].map((s) => el("option", { value: s, text: s || "Any", selected: (filters.get("status") || "") === s })));
    form.append(el("label", {}, "Status", fields.status), el("button", { type: "submit", text: "Filter" }));
    form.onsubmit = (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [key, field] of Object.entries(fields)) if (field.value) next.set(key, field.value);
      location.hash = "#/tasks" + (next.toString() ? "?" + next : "");
    };
    const body = el("div");
    main.append(el("h1", { text: "Tasks" }), form, body);
    return async () => {
      const data = await getJSON("/console/api/tasks?" + filters.toString());
      body.replaceChildren(
        el("p", { class: "muted", text: data.total > data.tasks.length ? `Newest ${data.tasks.length} of ${data.total} tasks.` : `${data.total} task(s).` }),
        table(["Task", "Cluster", "Task definition", "Status", "Desired", "Instance", "Containers", "Started", ""],
          data.tasks.map((t) => [
            link(`#/task/${encodeURIComponent(t.cluster)}/${encodeURIComponent(t.id)}`, t.id.slice(0, 12)), t.cluster, t.taskDefinition, status(t.lastStatus), t.desiredStatus,
            t.instanceId ? link(`#/tasks?cluster=${encodeURIComponent(t.cluster)}&instance=${encodeURIComponent(t.instanceId)}`, t.instanceId.slice(0, 12)) : "—",
            t.containers.map((c) => el("div", {}, `${c.name}: `, status(c.lastStatus), c.exitCode !== undefined && c.exitCode !== null ? ` exit ${c.exitCode}` : "", c.bindings.length ? el("span", { class: "mono", text: " " + c.bindings.join(", ") }) : null)),
            time(t.startedAt), stopButton(t)])));
    };
  },

  async task(main, cluster, id) {
    const body = el("div");
    const logs = el("pre", { id: "task-logs", "aria-label": "Task logs", tabindex: 0 });
    main.append(el("h1", { text: `Task ${id}` }), el("p", {}, link(`#/tasks?cluster=${encodeURIComponent(cluster)}`, `← tasks of ${cluster}`)), body,
      el("h2", { text: "Logs (live)" }), logs);
    const controller = new AbortController();
    streamLogs(`/console/api/tasks/${encodeURIComponent(cluster)}/${encodeURIComponent(id)}/logs`, logs, controller.signal);
    const refresh = async () => {
      const t = await getJSON(`/console/api/tasks/${encodeURIComponent(cluster)}/${encodeURIComponent(id)}`);
      body.replaceChildren(
        el("div", { class: "figures" },
          el("div", { class: "figure" }, el("b", {}, status(t.lastStatus)), "last status"),
          el("div", { class: "figure" }, el("b", { text: t.desiredStatus }), "desired"),
          el("div", { class: "figure" }, el("b", { text: t.taskDefinition }), "task definition"),
          el("div", { class: "figure" }, el("b", { text: t.instanceId ? t.instanceId.slice(0, 12) : "—" }), "instance")),
        t.stoppedReason ? el("p", {}, el("strong", { text: "Stopped: " }), `${t.stopCode || ""} ${t.stoppedReason}`) : null,
        el("p", {}, stopButton(t)),
        table(["Container", "Image", "Status", { label: "Exit code", num: true }, "Reason", "Health", "Network bindings"],
          t.containers.map((c) => [c.name, el("span", { class: "mono", text: c.image }), status(c.lastStatus), c.exitCode ?? "—", c.reason || "—", c.health || "—", c.bindings.join(", ") || "—"])),
        table(["Created", "Started", "Stopped", "Group", "CPU", "Memory"], [[time(t.createdAt), time(t.startedAt), time(t.stoppedAt), t.group || "—", t.cpu || "—", t.memory || "—"]]));
    };
    return { refresh, leave: () => controller.abort() };
  },

  async functions(main) {
    const body = el("div");
    main.append(el("h1", { text: "Functions" }), body);
    return async () => {
      const data = await getJSON("/console/api/functions");
      body.replaceChildren(table(["Function", "Runtime", { label: "Memory (MB)", num: true }, { label: "Timeout (s)", num: true }, "State", "Last modified"],
        data.functions.map((f) => [link(`#/function/${encodeURIComponent(f.name)}`, f.name), f.runtime, f.memory, f.timeout, status(f.state), time(f.lastModified)]),
        { empty: "No functions yet." }));
    };
  },

  async function(main, name) {
    const body = el("div");
    const payload = el("textarea", { id: "invoke-payload", "aria-label": "Payload (JSON)" });
    payload.value = "{}";
    const output = el("pre", { id: "invoke-output", hidden: true });
    const invoke = el("button", { type: "button", class: "primary", id: "invoke-function", text: "Invoke" });
    invoke.onclick = () => confirmThen(`Invoke ${name} with this payload?`, async () => {
      const answer = await lambda("POST", `/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, payload.value);
      const failed = answer.headers["X-Amz-Function-Error"];
      output.hidden = false;
      output.textContent = `${answer.status}${failed ? " (" + failed + ")" : ""}\n${answer.body}`;
      return answer.status < 300 && !failed ? "Invoked." : "The invocation failed: see its answer.";
    });
    const aliasName = el("input", { size: 10, "aria-label": "Alias" });
    const aliasVersion = el("input", { size: 5, "aria-label": "Version" });
    const extraVersion = el("input", { size: 5, "aria-label": "Additional version" });
    const extraWeight = el("input", { type: "number", min: 0, max: 1, step: 0.05, size: 5, "aria-label": "Its weight (0 to 1)" });
    const roll = el("button", { type: "button", id: "roll-alias", text: "Roll alias" });
    roll.onclick = () => {
      const weights = {};
      if (extraVersion.value) weights[extraVersion.value] = Number(extraWeight.value || 0);
      confirmThen(`Point ${aliasName.value} at version ${aliasVersion.value}${extraVersion.value ? ` with ${Math.round(Number(extraWeight.value || 0) * 100)}% to version ${extraVersion.value}` : ""}?`, async () => {
        const answer = await lambda("PUT", `/2015-03-31/functions/${encodeURIComponent(name)}/aliases/${encodeURIComponent(aliasName.value)}`,
          JSON.stringify({ FunctionVersion: aliasVersion.value, RoutingConfig: { AdditionalVersionWeights: weights } }));
        if (answer.status >= 300) throw new Error(JSON.parse(answer.body || "{}").message || `failed (${answer.status})`);
        return `${aliasName.value} rolled.`;
      });
    };
    main.append(el("h1", { text: `Function ${name}` }), body,
      el("h2", { text: "Invoke" }), payload, el("div", { class: "toolbar" }, invoke), output,
      el("h2", { text: "Roll an alias" }),
      el("div", { class: "toolbar" }, el("label", {}, "Alias", aliasName), el("label", {}, "Version", aliasVersion), el("label", {}, "Additional version", extraVersion), el("label", {}, "Weight", extraWeight), roll));
    return async () => {
      const f = await getJSON(`/console/api/functions/${encodeURIComponent(name)}`);
      const points = (key) => f.buckets.map((b) => [b.time, b[key]]);
      body.replaceChildren(
        el("div", { class: "figures" },
          el("div", { class: "figure" }, el("b", { id: "fn-invocations", text: f.totals.invocations }), "invocations (30 min)"),
          el("div", { class: "figure" }, el("b", { text: f.totals.errors }), "errors"),
          el("div", { class: "figure" }, el("b", { text: f.totals.throttles }), "throttles"),
          el("div", { class: "figure" }, el("b", { text: f.totals.coldStarts }), "cold starts"),
          el("div", { class: "figure" }, el("b", { text: f.totals.p50 === undefined || f.totals.p50 === null ? "—" : f.totals.p50.toFixed(1) }), "p50 ms"),
          el("div", { class: "figure" }, el("b", { text: f.totals.p99 === undefined || f.totals.p99 === null ? "—" : f.totals.p99.toFixed(1) }), "p99 ms")),
        el("p", { class: "muted", text: `${f.summary.runtime} · ${f.summary.memory} MB · ${f.summary.timeout} s · handler ${f.handler || "—"}` }),
        lineChart("Invocations per minute", [
          { name: "invocations", color: "#1f5fbf", points: points("invocations") },
          { name: "errors", color: "#b3261e", points: points("errors") },
          { name: "throttles", color: "#c98a00", points: points("throttles") },
          { name: "cold starts", color: "#7a4fbf", points: points("coldStarts") },
        ], { steps: true }),
        lineChart("Duration per minute", [
          { name: "p50", color: "#2e7d5b", points: points("p50") },
          { name: "p99", color: "#b3261e", points: points("p99") },
        ], { unit: "ms" }),
        el("h2", { text: "Aliases" }),
        table(["Alias", "Version", "Weights"], f.aliases.map((a) => [a.name, a.version, Object.entries(a.weights).map(([v, w]) => `${Math.round(w * 100)}% → ${v}`).join(", ") || "—"])),
        el("h2", { text: "Versions" }),
        table(["Version", "Description", "Last modified"], f.versions.map((v) => [v.version, v.description || "—", time(v.lastModified)])),
        el("h2", { text: "Recent REPORT lines" }),
        f.reports.length ? el("pre", { text: f.reports.join("\n") }) : el("p", { class: "muted", text: "No invocations in the last 30 minutes." }));
    };
  },

  async apis(main) {
    const body = el("div");
    main.append(el("h1", { text: "APIs" }), body);
    return async () => {
      const data = await getJSON("/console/api/apis");
      const ms = (value) => (value === undefined || value === null ? "—" : value.toFixed(1));
      body.replaceChildren(...(data.apis.length ? data.apis.map((api) => el("section", { "data-api": api.id },
        el("h2", { text: `${api.name} (${api.kind}, ${api.id})` }),
        el("p", { class: "muted", text: api.stages.length ? `Stages: ${api.stages.join(", ")}` : "No stages." }),
        el("div", { class: "figures" },
          el("div", { class: "figure" }, el("b", { class: "api-requests", text: api.traffic.requests }), "requests (30 min)"),
          el("div", { class: "figure" }, el("b", { text: api.traffic.perMinute.toFixed(1) }), "per minute"),
          el("div", { class: "figure" }, el("b", { class: "api-4xx", text: api.traffic.clientErrors }), "4xx"),
          el("div", { class: "figure" }, el("b", { class: "api-5xx", text: api.traffic.serverErrors }), "5xx"),
          el("div", { class: "figure" }, el("b", { text: ms(api.traffic.p50) }), "p50 ms"),
          el("div", { class: "figure" }, el("b", { text: ms(api.traffic.p99) }), "p99 ms")),
        api.traffic.requests ? lineChart("Requests per minute", [
          { name: "requests", color: "#1f5fbf", points: api.minutes.map((m) => [m.time, m.requests]) },
          { name: "4xx", color: "#c98a00", points: api.minutes.map((m) => [m.time, m.clientErrors]) },
          { name: "5xx", color: "#b3261e", points: api.minutes.map((m) => [m.time, m.serverErrors]) },
        ], { steps: true }) : null,
        api.traffic.requests ? lineChart("Latency per minute", [
          { name: "p50", color: "#2e7d5b", points: api.minutes.map((m) => [m.time, m.p50]) },
          { name: "p99", color: "#b3261e", points: api.minutes.map((m) => [m.time, m.p99]) },
        ], { unit: "ms" }) : null,
        table(["Route", "Integration", "Authorization"], api.routes.map((r) => [el("span", { class: "mono", text: r.route }), el("span", { class: "mono", text: r.integration || "—" }), r.authorization])))) : [el("p", { class: "muted", text: "No APIs yet." })]));
    };
  },

  async stacks(main) {
    const body = el("div");
    main.append(el("h1", { text: "Stacks" }), body);
    return async () => {
      const data = await getJSON("/console/api/stacks");
      body.replaceChildren(table(["Stack", "Status", { label: "Resources", num: true }, "Created", "Updated"],
        data.stacks.map((s) => [link(`#/stack/${encodeURIComponent(s.name)}`, s.name), status(s.status), s.resources, time(s.createdAt), time(s.updatedAt)]),
        { empty: "No stacks yet." }));
    };
  },

  async stack(main, name) {
    const body = el("div");
    main.append(el("h1", { text: `Stack ${name}` }), el("p", {}, link("#/stacks", "← stacks")), body);
    return async () => {
      const s = await getJSON(`/console/api/stacks/${encodeURIComponent(name)}`);
      body.replaceChildren(
        el("p", {}, status(s.summary.status), " ", s.summary.statusReason || ""),
        el("h2", { text: "Resources" }),
        table(["Logical id", "Type", "Physical id", "Status", "Reason"], s.resources.map((r) => [r.logicalId, r.type, el("span", { class: "mono", text: r.physicalId || "—" }), status(r.status), r.statusReason || ""])),
        el("h2", { text: "Outputs" }),
        table(["Key", "Value"], Object.entries(s.outputs).map(([k, v]) => [k, el("span", { class: "mono", text: v })])),
        el("h2", { text: "Events" }),
        table(["Time", "Logical id", "Type", "Status", "Reason"], s.events.map((e) => [time(e.time), e.logicalId, e.type, status(e.status), e.reason || ""])));
    };
  },

  async query(main) {
    const sql = el("textarea", { id: "query-sql", "aria-label": "SQL" });
    sql.value = "SELECT cluster, last_status, count(*) AS tasks FROM stevedore.tasks GROUP BY 1, 2 ORDER BY 1, 2";
    const database = el("input", { id: "query-database", value: "stevedore", size: 14 });
    // Athena writes results to S3: the work group's location, or this one (remembered in this browser).
    const output = el("input", { id: "query-output", size: 30, placeholder: "s3://bucket/prefix/", value: localStorage.getItem("stevedore.queryOutput") || "" });
    const run = el("button", { type: "submit", class: "primary", id: "run-query", text: "Run" });
    const state = el("p", { class: "muted", id: "query-state", role: "status" });
    const result = el("div", { id: "query-result" });
    const form = el("form", {}, sql, el("div", { class: "toolbar" }, el("label", {}, "Database", database), el("label", {}, "Results to (blank: the work group's)", output), run));
    form.onsubmit = async (event) => {
      event.preventDefault();
      run.disabled = true;
      result.replaceChildren();
      try {
        state.textContent = "Starting…";
        const input = { QueryString: sql.value, QueryExecutionContext: { Database: database.value } };
        if (output.value.trim()) { input.ResultConfiguration = { OutputLocation: output.value.trim() }; localStorage.setItem("stevedore.queryOutput", output.value.trim()); }
        const started = await aws(ATHENA + "StartQueryExecution", input);
        const id = started.QueryExecutionId;
        let execution;
        const asked = generation;
        for (;;) {
          execution = (await aws(ATHENA + "GetQueryExecution", { QueryExecutionId: id })).QueryExecution;
          const s = execution.Status.State;
          if (asked !== generation) return; // the page was left: the query goes on without it
          state.replaceChildren(status(s), ` ${id}`);
          if (s === "SUCCEEDED" || s === "FAILED" || s === "CANCELLED") break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        if (execution.Status.State !== "SUCCEEDED") { state.append(el("div", { class: "error", text: execution.Status.StateChangeReason || "The query did not succeed." })); return; }
        const results = await aws(ATHENA + "GetQueryResults", { QueryExecutionId: id, MaxResults: 1000 });
        const rows = results.ResultSet.Rows.map((r) => r.Data.map((d) => d.VarCharValue ?? ""));
        const columns = (results.ResultSet.ResultSetMetadata.ColumnInfo || []).map((c) => c.Name);
        const statistics = execution.Statistics || {};
        // A SELECT's first row repeats the column labels; other statements' results have none.
        const labelled = rows.length && columns.length && rows[0].every((value, i) => value === columns[i]);
        const shown = labelled ? rows.slice(1) : rows;
        state.append(` · ${shown.length} row(s) · ${statistics.DataScannedInBytes ?? 0} bytes scanned · ${statistics.TotalExecutionTimeInMillis ?? 0} ms`);
        result.replaceChildren(table(columns, shown));
      } catch (error) {
        state.replaceChildren(el("span", { class: "error", text: error.message }));
      } finally {
        run.disabled = false;
      }
    };
    main.append(el("h1", { text: "Query" }), el("p", { class: "muted", text: "Standard SQL over stored objects and the cluster's own records (database stevedore: tasks, services, task_state_changes, log_events, invocations…)." }), form, state, result);
    return { refresh: async () => {}, live: false };
  },
};

// A scaling metric's value in a datapoint, by its predefined metric type.
function metricValue(point, metric) {
  if (/CPU/i.test(metric || "")) return point.cpuUtilization;
  if (/Memory/i.test(metric || "")) return point.memoryUtilization;
  if (/RequestCount/i.test(metric || "")) return point.requestCountPerTarget ?? null;
  return null;
}

function stopButton(task) {
  if (task.desiredStatus === "STOPPED") return "";
  return el("button", {
    type: "button", class: "danger", "data-task": task.id, text: "Stop",
    onclick: () => confirmThen(`Stop task ${task.id}?`, async () => {
      await aws(ECS + "StopTask", { cluster: task.cluster, task: task.arn, reason: "Stopped from the console" });
      return `Task ${task.id.slice(0, 12)} stopping.`;
    }),
  });
}

function instanceCard(cluster, instance) {
  const draining = instance.status === "DRAINING";
  const toggle = el("button", {
    type: "button", text: draining ? "Activate" : "Drain", "data-instance": instance.id,
    onclick: () => confirmThen(`${draining ? "Activate" : "Drain"} instance ${instance.ec2InstanceId || instance.id}?`, async () => {
      await aws(ECS + "UpdateContainerInstancesState", { cluster, containerInstances: [instance.arn], status: draining ? "ACTIVE" : "DRAINING" });
      return draining ? "Instance active." : "Instance draining: its service tasks move elsewhere.";
    }),
  });
  return el("div", { class: "instance", "data-instance": instance.id },
    el("header", {}, el("strong", { text: instance.ec2InstanceId || instance.id.slice(0, 12) }),
      el("span", {}, status(instance.status), " ", status(instance.connected ? "connected" : "disconnected"))),
    usageBar("cpu", "CPU", instance.cpu),
    usageBar("mem", "Memory (MiB)", instance.memory),
    el("div", { class: "barlabel" },
      link(`#/tasks?cluster=${encodeURIComponent(cluster)}&instance=${encodeURIComponent(instance.id)}`, `${instance.runningTasks} running, ${instance.pendingTasks} pending`),
      toggle));
}

async function streamLogs(path, target, signal) {
  try {
    const response = await fetch(path, { credentials: "same-origin", signal });
    if (!response.ok || !response.body) { target.textContent = "(no logs: " + response.status + ")"; return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      target.append(decoder.decode(value, { stream: true }));
      // The newest 256 KB are kept on the page.
      if (target.textContent.length > 262144) target.textContent = target.textContent.slice(-200000);
      target.scrollTop = target.scrollHeight;
    }
  } catch (error) {
    if (error.name !== "AbortError") target.append(`\n(log stream ended: ${error.message})`);
  }
}

// MARK: Routing and live updates

const routes = [
  [/^#?\/?$/, (main) => pages.clusters(main)],
  [/^#\/cluster\/([^/?]+)$/, (main, m) => pages.cluster(main, decodeURIComponent(m[1]))],
  [/^#\/service\/([^/?]+)\/([^/?]+)$/, (main, m) => pages.service(main, decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/tasks(?:\?(.*))?$/, (main, m) => pages.tasks(main, m[1])],
  [/^#\/task\/([^/?]+)\/([^/?]+)$/, (main, m) => pages.task(main, decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^#\/functions$/, (main) => pages.functions(main)],
  [/^#\/function\/([^/?]+)$/, (main, m) => pages.function(main, decodeURIComponent(m[1]))],
  [/^#\/apis$/, (main) => pages.apis(main)],
  [/^#\/stacks$/, (main) => pages.stacks(main)],
  [/^#\/stack\/([^/?]+)$/, (main, m) => pages.stack(main, decodeURIComponent(m[1]))],
  [/^#\/query$/, (main) => pages.query(main)],
];

async function show() {
  if (!session.signedIn) return;
  const hash = location.hash || "#/";
  if (!hash.startsWith("#/")) return; // in-page anchors (the skip link) are not pages
  if (current && current.leave) current.leave();
  current = null;
  const mine = ++generation;
  const main = document.getElementById("main");
  delete main.dataset.ready;
  main.replaceChildren();
  for (const link of document.querySelectorAll("#nav a")) {
    const section = link.getAttribute("href");
    const active = section === "#/" ? /^#\/?(cluster|service)?/.test(hash) && !/^#\/(tasks?|functions?|apis|stacks?|query)/.test(hash) : hash.startsWith(section.replace(/s$/, ""));
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const route = routes.find(([pattern]) => pattern.test(hash));
  if (!route) { main.append(el("h1", { text: "Not found" }), el("p", {}, link("#/", "Clusters"))); return; }
  try {
    const made = await route[1](main, hash.match(route[0]));
    if (mine !== generation) { if (made && made.leave) made.leave(); return; }
    current = typeof made === "function" ? { refresh: made, live: true } : { live: true, ...made };
    current.generation = mine;
    await refresh();
    if (mine === generation) main.dataset.ready = "1";
  } catch (error) {
    if (mine === generation) main.append(el("p", { class: "error", text: error.message }));
  }
}

// One refresh at a time; one asked for meanwhile runs after it, so the newest answer is drawn last.
async function refresh() {
  if (!current) return;
  if (refreshing) { refreshing.again = true; return refreshing.done; }
  const page = current;
  let finish;
  refreshing = { again: false, done: new Promise((resolve) => { finish = resolve; }) };
  try {
    do {
      refreshing.again = false;
      try {
        await page.refresh();
        if (page !== current) break;
        document.querySelectorAll("#main > .error.refresh").forEach((node) => node.remove());
      } catch (error) {
        if (page !== current) break;
        document.querySelectorAll("#main > .error.refresh").forEach((node) => node.remove());
        document.getElementById("main").append(el("p", { class: "error refresh", text: error.message }));
      }
    } while (refreshing.again && page === current);
  } finally {
    refreshing = null;
    finish();
  }
}

function scheduleRefresh(delay) {
  if (!current || current.live === false) return;
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, delay);
}

let events = null;
function listen() {
  if (events) return;
  events = new EventSource("/console/api/events");
  const live = document.getElementById("live");
  // Whatever changed while the stream was down is drawn once it is back.
  events.onopen = () => { live.textContent = "● live"; scheduleRefresh(0); };
  events.onmessage = () => scheduleRefresh(150);
  events.onerror = () => {
    live.textContent = "○ reconnecting";
    if (events.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // Closed for good (ecsd restarted, the session ended): sign in again, or reopen it shortly.
    events = null;
    setTimeout(async () => {
      try {
        const body = await (await fetch("/console/api/session", { credentials: "same-origin" })).json();
        if (body.signedIn) { session.csrf = body.csrf; listen(); } else showSignIn("The session ended: sign in again.");
      } catch (error) {
        listen();
      }
    }, 2000);
  };
}

// MARK: Signing in

function showSignIn(message) {
  session.signedIn = false;
  if (events) { events.close(); events = null; }
  if (current && current.leave) current.leave();
  current = null;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  const keyId = el("input", { id: "access-key-id", name: "accessKeyId", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = el("input", { id: "secret-access-key", name: "secretAccessKey", type: "password", autocomplete: "current-password", required: true });
  const error = el("p", { class: "error", role: "alert", text: message || "" });
  const form = el("form", {},
    el("label", {}, "Access key ID", keyId),
    el("label", {}, "Secret access key", secret),
    el("button", { type: "submit", class: "primary", id: "sign-in", text: "Sign in" }), error);
  form.onsubmit = async (event) => {
    event.preventDefault();
    let body;
    try {
      const response = await fetch("/console/api/sign-in", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ accessKeyId: keyId.value.trim(), secretAccessKey: secret.value }),
      });
      body = await response.json();
    } catch (failure) {
      error.textContent = "ecsd did not answer: " + failure.message;
      return;
    }
    if (!body.signedIn) { error.textContent = body.message || "Those credentials were not accepted."; secret.value = ""; secret.focus(); return; }
    signedIn(body);
  };
  const main = document.getElementById("main");
  main.replaceChildren(el("section", { class: "signin" }, el("h1", { text: "Sign in" }),
    el("p", { class: "muted", text: "With an access key of this cluster: the administrator's (in the data directory's admin-credentials) or an IAM user's." }), form));
  keyId.focus();
}

function signedIn(body) {
  session.signedIn = true;
  session.csrf = body.csrf;
  document.getElementById("who").textContent = body.user || "";
  document.getElementById("sign-out").hidden = !body.authentication;
  listen();
  show();
}

document.addEventListener("DOMContentLoaded", async () => {
  window.addEventListener("hashchange", show);
  document.getElementById("sign-out").onclick = async () => {
    try { await postJSON("/console/api/sign-out", {}); } catch (error) { /* signed out either way */ }
    showSignIn();
  };
  // The skip link moves the focus to the page's content without changing the route.
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  const body = await (await fetch("/console/api/session", { credentials: "same-origin" })).json();
  if (body.signedIn) signedIn(body); else showSignIn();
});
