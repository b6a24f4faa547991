// Pure HTML for the dashboard: class frequencies, review agreement, records per day.
import { classDisplayName, clampFraction, formatRate } from "./format.js";
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

/** The whole dashboard for GET /stats's answer. */
export function dashboardTemplate(stats) {
  const perDay = (stats.per_day ?? []).map(({ date, count }) => [date, count]);
  const days = perDay.length
    ? `<ul class="bars">${barListTemplate(perDay, { testId: "day-count", labelOf: (d) => d })}</ul>`
    : `<p class="muted">No records yet.</p>`;
  return `<div class="dashboard-grid">
    <section class="panel" aria-labelledby="dash-classes">
      <h2 class="panel-title" id="dash-classes">Records per predicted class</h2>
      <p class="dash-total">Total <strong data-testid="stats-total">${escapeHtml(stats.total)}</strong></p>
      <ul class="bars">${barListTemplate(Object.entries(stats.by_label ?? {}), {
        testId: "class-count",
        labelOf: classDisplayName,
      })}</ul>
    </section>
    <section class="panel" aria-labelledby="dash-agreement">
      <h2 class="panel-title" id="dash-agreement">Review agreement per class</h2>
      ${agreementTemplate(stats.agreement ?? [])}
      <p class="muted dash-note">Agreement = confirmed ÷ (confirmed + corrected). Rejected images are not counted as disagreement.</p>
    </section>
    <section class="panel" aria-labelledby="dash-days">
      <h2 class="panel-title" id="dash-days">Records per day (UTC)</h2>
      ${days}
    </section>
  </div>`;
}
