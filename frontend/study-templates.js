// Pure HTML for the study view: the slices of the open record's DICOM study beside its
// image, the study-level result (its most suspicious slice) over them. Every value goes
// through escapeHtml.
import { formatPercent } from "./format.js";
import { leadingSlice, seriesOf } from "./study.js";
import { answerText, escapeHtml, findingClass, hasFinding } from "./templates.js";

/** "Tumour suspected · Glioma, 91.0%": a slice's answer with its tumour probability. */
function sliceAnswer(record) {
  const answer = answerText(record);
  return hasFinding(record) ? `${answer}, ${formatPercent(record.tumour_probability)}` : answer;
}

// One thumbnail: a link to the slice's record (the page stays; the hash names the record).
// The picture arrives later (it needs the key); its slot is marked for the view to fill.
function sliceTemplate(record, number, total, currentId) {
  const id = escapeHtml(record.id);
  const current = String(record.id) === String(currentId);
  const finding = hasFinding(record) ? record.finding : "";
  const label = `Slice ${number} of ${total}, record #${record.id}: ${sliceAnswer(record)}${current ? " (on screen)" : ""}`;
  return `<li class="study-item"><a class="study-slice${current ? " is-current" : ""}" href="#/records/${id}" data-testid="study-slice" data-record-id="${id}"${
    current ? ' aria-current="true"' : ""
  } title="${escapeHtml(label)}">
      <span class="study-thumb" data-study-thumb="${id}" aria-hidden="true"></span>
      <span class="study-slice-line" aria-hidden="true"><span class="study-dot ${findingClass(finding)}"></span>${escapeHtml(number)}</span>
      <span class="visually-hidden">${escapeHtml(label)}</span>
    </a></li>`;
}

/**
 * The strip for a study: `records` every slice the key may see (arrival order), `count` how
 * many the API holds (more than `records` when the list was cut), `currentId` the record on
 * screen. Several series each get their own list under a heading.
 */
export function studyStripTemplate({ records, count = records.length, currentId }) {
  const series = seriesOf(records);
  const total = records.length;
  let number = 0;
  const lists = series
    .map(({ slices }, index) => {
      const items = slices.map((record) => sliceTemplate(record, ++number, total, currentId)).join("");
      const heading =
        series.length > 1
          ? `<h4 class="study-series" data-testid="study-series">Series ${index + 1} · ${slices.length}</h4>`
          : "";
      return `${heading}<ol class="study-slices" data-testid="study-slices">${items}</ol>`;
    })
    .join("");
  const cut =
    count > total
      ? `<p class="study-note muted" data-testid="study-cut">The first ${escapeHtml(total)} of ${escapeHtml(count)} slices.</p>`
      : "";
  return `<h3 class="study-title" data-testid="study-title">Study · ${escapeHtml(total)} slices</h3>
${studyLeadTemplate(records, currentId)}${cut}
<div class="study-lists">${lists}</div>`;
}

// The study-level result leads: its most suspicious slice, a link unless it is on screen.
// The strip is narrow, so the line shows the record and its probability, coloured by its
// finding; the whole sentence is the link's text for a screen reader and its tooltip.
export function studyLeadTemplate(records, currentId) {
  const lead = leadingSlice(records);
  if (!lead) return "";
  if (!hasFinding(lead)) {
    return `<p class="study-lead muted" data-testid="study-lead">No slice has a tumour finding.</p>`;
  }
  const onScreen = String(lead.id) === String(currentId);
  const sentence = `Most suspicious slice: record #${lead.id}, ${sliceAnswer(lead)}${onScreen ? " (on screen)" : ""}`;
  const short = `<span class="study-dot ${findingClass(lead.finding)}"></span>#${escapeHtml(lead.id)} · ${escapeHtml(
    formatPercent(lead.tumour_probability, 0),
  )}`;
  const body = onScreen
    ? `<span class="study-lead-short" aria-hidden="true">${short}</span><span class="visually-hidden">${escapeHtml(sentence)}</span>`
    : `<a href="#/records/${escapeHtml(lead.id)}" data-testid="study-lead-open"><span class="study-lead-short" aria-hidden="true">${short}</span><span class="visually-hidden">${escapeHtml(
        sentence,
      )}</span></a>`;
  return `<p class="study-lead" data-testid="study-lead" data-record-id="${escapeHtml(lead.id)}" title="${escapeHtml(
    sentence,
  )}"><span class="study-lead-label" aria-hidden="true">Most suspicious</span>${body}</p>`;
}

/** The strip's own message (the study could not be listed). */
export function studyMessageTemplate(message) {
  return `<p class="study-note muted" data-testid="study-message">${escapeHtml(message)}</p>`;
}
