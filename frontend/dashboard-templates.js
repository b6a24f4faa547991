// Pure HTML for the dashboard: findings, class frequencies, review agreement, what the
// recogniser saw (modality, body part) and records per day.
import {
  bodyPartDisplayName,
  classDisplayName,
  clampFraction,
  findingDisplayName,
  formatRate,
  modalityDisplayName,
} from "./format.js";
import { escapeHtml } from "./templates.js";

function barListTemplate(entries, { testId, labelOf }) {
  const largest = Math.max(1, ...entries.map(([, count]) => count));
  return entries
    .map(([key, count]) => {
      const fraction = clampFraction(count / largest);
      return `<li class="bar-row" data-testid="${testId}" data-key="${escapeHtml(key)}" data-count="${escapeHtml(count)}">
        <span class="bar-name">${escapeHtml(labelOf(key))}</span>
        <span class="prob-track" aria-hidden="true"><span class="prob-fill bar-${escapeHtml(
          testId,
        )}" data-fraction="${fraction}"></span></span>
        <span class="bar-value">${escapeHtml(count)}</span>
      </li>`;
    })
    .join("\n");
}

function agreementTemplate(agreement) {
  const rows = agreement
    .map(
      (row) => `<tr data-testid="agreement-row" data-label="${escapeHtml(row.label)}">
        <th scope="row">${escapeHtml(classDisplayName(row.label))}</th>
        <td class="num">${escapeHtml(row.confirmed)}</td>
        <td class="num">${escapeHtml(row.corrected)}</td>
        <td class="num">${escapeHtml(row.rejected)}</td>
        <td class="num" data-testid="agreement-rate">${escapeHtml(formatRate(row.agreement_rate))}</td>
      </tr>`,
    )
    .join("\n");
  return `<table class="records agreement">
    <caption class="visually-hidden">Review agreement per predicted class</caption>
    <thead><tr><th scope="col">Predicted</th><th scope="col" class="num">Confirmed</th>
    <th scope="col" class="num">Corrected</th><th scope="col" class="num">Rejected</th>
    <th scope="col" class="num">Agreement</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`;
}

// The three findings in reading order, then anything else the API counts.
const FINDING_ORDER = ["tumour_suspected", "indeterminate", "no_tumour"];

function countsInOrder(counts, order = []) {
  const entries = Object.entries(counts ?? {}).filter(([, count]) => Number.isFinite(Number(count)));
  const rank = (key) => (order.includes(key) ? order.indexOf(key) : order.length);
  return entries.sort(([a], [b]) => rank(a) - rank(b));
}

// A count section for an optional part of GET /stats: "" when the API does not send it (an
// older API), a line saying so when it sends nothing counted yet.
function countSectionTemplate(counts, { id, title, testId, labelOf, order, note = "" }) {
  if (!counts || typeof counts !== "object") return "";
  const entries = countsInOrder(counts, order);
  const body = entries.length
    ? `<ul class="bars">${barListTemplate(entries, { testId, labelOf })}</ul>`
    : `<p class="muted">No records yet.</p>`;
  const remark = note ? `<p class="muted dash-note">${escapeHtml(note)}</p>` : "";
  return `<section class="panel" aria-labelledby="${id}">
      <h2 class="panel-title" id="${id}">${escapeHtml(title)}</h2>
      ${body}
      ${remark}
    </section>`;
}

/** The whole dashboard for GET /stats's answer; parts an older API lacks are left out. */
export function dashboardTemplate(stats) {
  const perDay = (stats.per_day ?? []).map(({ date, count }) => [date, count]);
  const days = perDay.length
    ? `<ul class="bars">${barListTemplate(perDay, { testId: "day-count", labelOf: (d) => d })}</ul>`
    : `<p class="muted">No records yet.</p>`;
  const findings = countSectionTemplate(stats.by_finding, {
    id: "dash-findings",
    title: "Records per finding",
    testId: "finding-count",
    labelOf: findingDisplayName,
    order: FINDING_ORDER,
    note: "Images not read for tumours, and records of older models, have no finding.",
  });
  const modalities = countSectionTemplate(stats.by_modality, {
    id: "dash-modalities",
    title: "Records per modality",
    testId: "modality-count",
    labelOf: modalityDisplayName,
  });
  const bodyParts = countSectionTemplate(stats.by_body_part, {
    id: "dash-body-parts",
    title: "Records per body part",
    testId: "body-part-count",
    labelOf: bodyPartDisplayName,
  });
  return `<p class="dash-total">Total <strong data-testid="stats-total">${escapeHtml(stats.total)}</strong> records</p>
  <div class="dashboard-grid">
    ${findings}
    <section class="panel" aria-labelledby="dash-classes">
      <h2 class="panel-title" id="dash-classes">Records per predicted class</h2>
      <ul class="bars">${barListTemplate(Object.entries(stats.by_label ?? {}), {
        testId: "class-count",
        labelOf: classDisplayName,
      })}</ul>
      <p class="muted dash-note">Images not read for tumours have no class and are not counted here.</p>
    </section>
    <section class="panel" aria-labelledby="dash-agreement">
      <h2 class="panel-title" id="dash-agreement">Review agreement per class</h2>
      ${agreementTemplate(stats.agreement ?? [])}
      <p class="muted dash-note">Agreement = confirmed ÷ (confirmed + corrected). Rejected images are not counted as disagreement.</p>
    </section>
    ${modalities}
    ${bodyParts}
    <section class="panel" aria-labelledby="dash-days">
      <h2 class="panel-title" id="dash-days">Records per day (UTC)</h2>
      ${days}
    </section>
  </div>`;
}
